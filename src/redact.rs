//! Secrets never land in what is printed or kept: the userinfo of a URL
//! (`http://admin:s3cr3t@host`) and the values of query parameters whose
//! names look like secrets (`token`, `key`, `password`, ...) are replaced
//! with `***`, in URLs and in any text that carries one (error messages
//! quote the URL they failed on). A command line read from a container (a
//! HEALTHCHECK) loses its secrets too ([`argv`]): a value that one of the
//! container's secret-looking variables holds becomes `${NAME}`, a value
//! in a secret's place (`--password X`, `PGPASSWORD=X`, `-pX` for MySQL,
//! a URL's userinfo) becomes `***`. A `${NAME}` reference is never a
//! secret and is kept as it is. The values of the gameday file's secret
//! variables, once [`remember`]ed, are hidden by [`known`] in the journal,
//! the samples, result.json, the reports and what the CLI prints.

/// The values the gameday file's secret variables hold (`${DB_PASSWORD}`
/// put in from the environment), as written and as HTML and XML escape
/// them: [`known`] hides them in what gameday prints and in the reports,
/// [`known_in_json`] in the string values of the records it keeps.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Values shorter than this are not hidden: they would hide ordinary text.
pub(crate) const KNOWN_MIN_CHARS: usize = 6;

/// Remember a secret's value, so [`known`] hides it from here on.
pub(crate) fn remember(value: &str) {
    if value.chars().count() < KNOWN_MIN_CHARS {
        return;
    }
    let html: String = value
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#x27;".to_string(),
            '/' => "&#x2F;".to_string(),
            c => c.to_string(),
        })
        .collect();
    let xml = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;");
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for v in [value.to_string(), html, xml] {
        if !known.contains(&v) {
            known.push(v);
        }
    }
    // The longest first: a value inside another is hidden with it.
    known.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// Is any secret value remembered?
pub(crate) fn knows_any() -> bool {
    !KNOWN.read().unwrap_or_else(|e| e.into_inner()).is_empty()
}

/// `text` with every remembered secret value as `***` (borrowed, and
/// nothing scanned, while none is remembered).
pub(crate) fn known(text: &str) -> std::borrow::Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    if known.is_empty() || !known.iter().any(|v| text.contains(v.as_str())) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for v in known.iter() {
        out = out.replace(v.as_str(), HIDDEN);
    }
    std::borrow::Cow::Owned(out)
}

/// Every string value of a JSON record with the remembered secrets
/// hidden, keys and numbers untouched (the record stays valid JSON of
/// the same shape), except below a key named `recipe`: a revert recipe is
/// kept exact, for `gameday recover` to run as it was written.
pub(crate) fn known_in_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(hidden) = known(s) {
                *s = hidden;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(known_in_json),
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key != "recipe" {
                    known_in_json(v);
                }
            }
        }
        _ => {}
    }
}

/// `record` serialized as one JSON line, its string values' secrets
/// hidden as [`known_in_json`] does (serialized directly while none is
/// remembered).
pub(crate) fn json_line<T: serde::Serialize>(record: &T) -> serde_json::Result<Vec<u8>> {
    if !knows_any() {
        return serde_json::to_vec(record);
    }
    let mut value = serde_json::to_value(record)?;
    known_in_json(&mut value);
    serde_json::to_vec(&value)
}

/// Parts of a parameter name that make its value a secret.
const SECRET_NAMES: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "credential",
    "signature",
    "sig",
    "session",
];

const HIDDEN: &str = "***";

/// One URL with its secrets hidden; text that is not a URL is returned as is.
pub(crate) fn url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    // The userinfo runs to the last `@` (a password may hold `/`, `?` or
    // `#`, which a client reads as part of it): one in a path hides more
    // than needed, never less.
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end_of_authority);
    let authority = match userinfo.map(|u| (u, host)) {
        // `user:${DB_PASSWORD}@db`: the password is a reference, not a value.
        Some((userinfo, host))
            if userinfo
                .split_once(':')
                .is_some_and(|(_, password)| is_reference(password)) =>
        {
            format!("{userinfo}@{host}")
        }
        Some((_, host)) => format!("{HIDDEN}@{host}"),
        None => host.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, value)) if is_secret(name) && !is_reference(value) => {
                        format!("{name}={HIDDEN}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            let mut tail = format!("{path}?{}", query.join("&"));
            if let Some(f) = fragment {
                tail.push('#');
                tail.push_str(f);
            }
            tail
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Only where a URL goes: `https://hooks.slack.com/…`, for URLs whose path
/// is itself the secret (incoming webhooks). Userinfo is dropped too.
pub(crate) fn origin(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return HIDDEN.to_string();
    };
    // Past the userinfo, which runs to the last `@` (see [`url`]).
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end_of_authority];
    let more = if end_of_authority < rest.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{more}")
}

/// The schemes of the URLs [`text`] looks for.
const SCHEMES: &[&str] = &[
    "http://",
    "https://",
    "postgres://",
    "postgresql://",
    "redis://",
    "rediss://",
];

/// Text with every URL of [`SCHEMES`] in it redacted.
pub(crate) fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = SCHEMES.iter().filter_map(|s| rest.find(s)).min() {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ',' | ']'))
            .unwrap_or(after.len());
        out.push_str(&url(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| name.contains(s))
}

/// `${NAME}`: a reference to a variable, never a secret itself.
fn is_reference(text: &str) -> bool {
    text.strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .is_some_and(is_identifier)
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Words of a variable's name that make its value a secret (`DB_PASSWORD`,
/// `API_KEY`, `GITHUB_TOKEN`).
const SECRET_VARIABLE_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASS",
    "SECRET",
    "TOKEN",
    "KEY",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "PASSPHRASE",
];

/// Parts that make a name secret even inside a word (`DBPASSWORD`).
const SECRET_NAME_PARTS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "CREDENTIAL",
    "APIKEY",
    "PASSPHRASE",
];

/// Does an environment variable's name say its value is a secret? Not the
/// shell's `PWD`, nor a variable naming where a secret is (`..._FILE`,
/// `..._PATH`).
pub(crate) fn is_secret_variable(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    if matches!(name.as_str(), "PWD" | "OLDPWD")
        || name.ends_with("_FILE")
        || name.ends_with("_PATH")
    {
        return false;
    }
    SECRET_NAME_PARTS.iter().any(|p| name.contains(p))
        || name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| SECRET_VARIABLE_WORDS.contains(&w))
}

/// Does a command-line option's name (without its dashes) take a secret
/// (`--password`, `--db-pass`, `--api-key`, `--token`)? Not `--key` alone:
/// it names a key file more often than not.
fn is_secret_option(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_uppercase();
    let joined: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    SECRET_NAME_PARTS.iter().any(|p| joined.contains(p))
        || name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| matches!(w, "PASS" | "PWD"))
}

/// A secret shorter than this is replaced only where it stands whole (an
/// argument, an option's value): a short value also occurs inside words.
const MIN_SECRET_INSIDE_WORDS: usize = 4;

/// A command line with its secrets out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedactedArgv {
    pub argv: Vec<String>,
    /// The variables written in place of their values (`${NAME}`), in
    /// order of first use.
    pub variables: Vec<String>,
    /// Secrets no variable holds, written as `***`.
    pub hidden: usize,
    /// It still does what the original did: it held no secret, or it is a
    /// shell line (`sh -c LINE`) whose every secret became a `${NAME}` the
    /// container's shell expands to the same value.
    pub runs_as_before: bool,
}

/// `argv` (run with the environment `env`, `NAME=value` lines) without its
/// secrets: a value held by one of the environment's secret-looking
/// variables becomes `${NAME}`; a value in a secret's place that no such
/// variable holds becomes `***`. The values never leave this function.
pub(crate) fn argv(argv: &[String], env: &[String]) -> RedactedArgv {
    let mut secrets: Vec<(&str, &str)> = env
        .iter()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, value)| is_secret_variable(name) && !value.is_empty())
        .collect();
    // Longest first, so a value inside another is not taken for it.
    secrets.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let mut found = Found {
        secrets,
        mysql: argv.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a.contains("mysql") || a.contains("mariadb")
        }),
        variables: Vec::new(),
        hidden: 0,
        expands: true,
    };
    let shell = argv.len() == 3
        && argv[1] == "-c"
        && matches!(
            argv[0].rsplit('/').next(),
            Some("sh" | "bash" | "ash" | "dash" | "zsh" | "ksh")
        );
    let out = if shell {
        let mut out = argv.to_vec();
        out[2] = found.shell_line(&argv[2]);
        out
    } else {
        let mut out = Vec::with_capacity(argv.len());
        for (i, arg) in argv.iter().enumerate() {
            let previous = i.checked_sub(1).map(|p| argv[p].as_str());
            out.push(found.word(arg, previous, Quoting::None));
        }
        // Without a shell nothing expands a `${NAME}`.
        found.expands = found.variables.is_empty();
        out
    };
    RedactedArgv {
        argv: out,
        runs_as_before: found.expands && found.hidden == 0,
        variables: found.variables,
        hidden: found.hidden,
    }
}

/// How a word's text is read by whoever runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// An argument as it is (no shell).
    None,
    /// A word of a shell line (whose values were replaced with the line).
    Shell,
}

/// What redacting one command line found so far.
struct Found<'a> {
    /// The secret-looking variables and their values, longest value first.
    secrets: Vec<(&'a str, &'a str)>,
    /// A MySQL client's `-pSECRET` is a password.
    mysql: bool,
    variables: Vec<String>,
    hidden: usize,
    /// Every `${NAME}` written expands to the value it replaced.
    expands: bool,
}

/// Characters a value may hold and still read the same whether it is
/// written in a shell line or expanded from a variable there (no quotes,
/// no expansion, no splitting, no globbing).
fn shell_neutral(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./~^-".contains(c))
}

impl Found<'_> {
    fn reference(&mut self, name: &str) -> String {
        if !self.variables.iter().any(|v| v == name) {
            self.variables.push(name.to_string());
        }
        format!("${{{name}}}")
    }

    /// The variable holding exactly `value`, if one does.
    fn holder(&self, value: &str) -> Option<&str> {
        self.secrets
            .iter()
            .find(|(_, v)| *v == value)
            .map(|(name, _)| *name)
    }

    /// A value standing in a secret's place (quoted or not): its
    /// variable, else `***`.
    fn hide(&mut self, value: &str) -> String {
        let (open, inner, close) = unquote(value);
        if inner.is_empty() || inner.starts_with('$') {
            return value.to_string();
        }
        match self.holder(inner).map(str::to_string) {
            Some(name) => {
                if open == "'" || !shell_neutral(inner) {
                    self.expands = false;
                }
                format!("{open}{}{close}", self.reference(&name))
            }
            None => {
                self.hidden += 1;
                format!("{open}{HIDDEN}{close}")
            }
        }
    }

    /// Every value of a secret variable inside `text` (long enough to be
    /// told from a word) replaced by its reference; `single[i]` says
    /// whether byte i of `text` is in single quotes (where a shell does not
    /// expand).
    fn values_inside(&mut self, text: &str, single: &[bool]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let hit = self
                .secrets
                .iter()
                .find(|(_, v)| v.len() >= MIN_SECRET_INSIDE_WORDS && text[i..].starts_with(v))
                .map(|(name, value)| (name.to_string(), value.len(), shell_neutral(value)));
            match hit {
                Some((name, len, neutral)) => {
                    if single.get(i).copied().unwrap_or(false) || !neutral {
                        self.expands = false;
                    }
                    out.push_str(&self.reference(&name));
                    i += len;
                }
                None => {
                    let c = text[i..].chars().next().unwrap_or(' ');
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
        out
    }

    /// One word (an argument, or a word of a shell line) without its
    /// secrets; `previous` is the word before it.
    fn word(&mut self, word: &str, previous: Option<&str>, quoting: Quoting) -> String {
        let word = if quoting == Quoting::None {
            self.values_inside(word, &[])
        } else {
            word.to_string()
        };
        // A URL's userinfo and secret parameters.
        if let Some(at) = word.find("://") {
            let start = word[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                .map_or(0, |i| i + 1);
            let end = word.trim_end_matches(['\'', '"']).len().max(at);
            let redacted = url(&word[start..end]);
            if redacted != word[start..end] {
                self.hidden += 1;
            }
            return format!("{}{redacted}{}", &word[..start], &word[end..]);
        }
        // `--password X`.
        if let Some(option) = previous
            && option.starts_with('-')
            && option
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && is_secret_option(option)
            && !word.starts_with('-')
        {
            return self.hide(&word);
        }
        let bare = word.trim_start_matches(['\'', '"']);
        let lead = &word[..word.len() - bare.len()];
        // `--password=X`, `PGPASSWORD=X`.
        if let Some((name, value)) = bare.split_once('=') {
            let secret = if name.starts_with('-') {
                is_secret_option(name)
            } else {
                is_identifier(name) && is_secret_variable(name)
            };
            if secret {
                let (value, tail) = split_closing_quote(value, lead);
                return format!("{lead}{name}={}{tail}", self.hide(value));
            }
        }
        // MySQL's `-pSECRET` (`-p 3306` elsewhere is a port).
        if self.mysql
            && let Some(value) = bare.strip_prefix("-p")
            && !value.is_empty()
            && !value.starts_with('-')
            && !value.chars().all(|c| c.is_ascii_digit())
        {
            let (value, tail) = split_closing_quote(value, lead);
            return format!("{lead}-p{}{tail}", self.hide(value));
        }
        word
    }

    /// A shell line without its secrets: values inside it first, then
    /// each word for the places secrets stand in.
    fn shell_line(&mut self, line: &str) -> String {
        let single = single_quoted(line);
        let line = self.values_inside(line, &single);
        let words = shell_words(&line);
        let mut out = String::with_capacity(line.len());
        let mut last = 0;
        for (i, &(start, end)) in words.iter().enumerate() {
            out.push_str(&line[last..start]);
            let previous = i
                .checked_sub(1)
                .map(|p| &line[words[p].0..words[p].1])
                .map(|w| w.trim_matches(['\'', '"']));
            out.push_str(&self.word(&line[start..end], previous, Quoting::Shell));
            last = end;
        }
        out.push_str(&line[last..]);
        out
    }
}

/// A quoted value's quotes and what they hold: `("'", "x", "'")`.
fn unquote(value: &str) -> (&str, &str, &str) {
    for q in ["'", "\""] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return (q, &value[1..value.len() - 1], q);
        }
    }
    ("", value, "")
}

/// The closing quote a quoted word ends with, kept outside the value.
fn split_closing_quote<'v>(value: &'v str, lead: &str) -> (&'v str, &'v str) {
    match lead.chars().last() {
        Some(q) if value.ends_with(q) => value.split_at(value.len() - q.len_utf8()),
        _ => (value, ""),
    }
}

/// For each byte of a shell line: is it inside single quotes?
fn single_quoted(line: &str) -> Vec<bool> {
    let mut out = vec![false; line.len()];
    let (mut single, mut double, mut escaped) = (false, false, false);
    for (i, c) in line.char_indices() {
        if single {
            out[i..i + c.len_utf8()].fill(true);
            single = c != '\'';
            continue;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            double = !double;
        } else if c == '\'' && !double {
            single = true;
            out[i] = true;
        }
    }
    out
}

/// The words of a shell line, as byte ranges: split at whitespace and
/// operators (`;`, `&`, `|`, parentheses, redirections) outside quotes.
fn shell_words(line: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start = None;
    let (mut single, mut double, mut escaped) = (false, false, false);
    for (i, c) in line.char_indices() {
        let quoted = single || double || escaped;
        if escaped {
            escaped = false;
        } else if single {
            single = c != '\'';
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            double = !double;
        } else if c == '\'' && !double {
            single = true;
        }
        let separator = !quoted && (c.is_whitespace() || ";&|()<>".contains(c));
        match (separator, start) {
            (true, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, line.len()));
    }
    words
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_remembered_secret_is_hidden_in_text_and_in_json_string_values_only() {
        assert_eq!(known("nothing here"), "nothing here");
        remember("q\"uo/ted-s3cret");
        remember("abc12"); // too short to hide
        assert_eq!(known("x q\"uo/ted-s3cret y abc12"), "x *** y abc12");
        assert_eq!(known("q&quot;uo&#x2F;ted-s3cret"), "***");
        remember("shop-postgres");
        let mut record = serde_json::json!({
            "what": "curl -H 'q\"uo/ted-s3cret'",
            "container": "shop-postgres-1",
            "recipe": { "argv": ["revert", "q\"uo/ted-s3cret"] },
            "t_ms": 512345
        });
        known_in_json(&mut record);
        assert_eq!(
            record,
            serde_json::json!({
                "what": "curl -H '***'",
                "container": "***-1",
                "recipe": { "argv": ["revert", "q\"uo/ted-s3cret"] },
                "t_ms": 512345
            })
        );
    }
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_origin_keeps_only_scheme_and_host() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(origin("http://u:p@127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(origin("not a url"), "***");
    }

    #[test]
    fn userinfo_and_secret_parameters_are_hidden() {
        assert_eq!(
            url("http://admin:s3cr3t@db:8080/health?token=abc&x=1&api_key=k#top"),
            "http://***@db:8080/health?token=***&x=1&api_key=***#top"
        );
        assert_eq!(url("https://host/path"), "https://host/path");
        assert_eq!(url("127.0.0.1:5432"), "127.0.0.1:5432");
        assert_eq!(
            text("error sending request for url (http://u:p@h/x?Password=1): refused"),
            "error sending request for url (http://***@h/x?Password=***): refused"
        );
        assert_eq!(text("no url here"), "no url here");
    }

    #[test]
    fn a_password_holding_a_slash_or_a_hash_is_hidden_whole() {
        // A client reads the userinfo up to the last `@`.
        assert_eq!(
            url("postgres://app:Zx9/Secr3tPg@127.0.0.1:5432/app"),
            "postgres://***@127.0.0.1:5432/app"
        );
        assert_eq!(
            url("redis://:Rd#Secr3t?x@127.0.0.1:6379"),
            "redis://***@127.0.0.1:6379"
        );
        assert_eq!(
            origin("http://u:a/b@hooks.example:9000/x"),
            "http://hooks.example:9000/…"
        );
        assert_eq!(
            text("connect to postgresql://u:p@db/app and rediss://:k@cache failed"),
            "connect to postgresql://***@db/app and rediss://***@cache failed"
        );
    }

    proptest! {
        /// Whatever surrounds it, a secret put in a URL's userinfo or in a
        /// secret-looking parameter never survives.
        #[test]
        fn no_secret_survives(
            before in "[a-z ()]{0,12}",
            secret in "[A-Za-z0-9]{6,16}",
            after in "[a-z ]{0,12}",
        ) {
            let line = format!("{before}http://user:{secret}@host:1/p?q=1&access_token={secret} {after}");
            let redacted = text(&line);
            prop_assert!(!redacted.contains(&secret), "{redacted}");
        }
    }
    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const ENV: &[&str] = &[
        "DEMO_DB_PASSWORD=S3cr3t-v4lue",
        "PATH=/usr/bin:/bin",
        "DB_HOST=db",
        "API_KEY=ab1",
    ];

    #[test]
    fn a_healthcheck_argv_names_the_variable_holding_each_secret() {
        let r = argv(
            &strings(&[
                "/gameday-demo",
                "connect",
                "127.0.0.1:8080",
                "--password",
                "S3cr3t-v4lue",
                "-pS3cr3t-v4lue",
                "--token=0ther-s3cret",
                "http://u:S3cr3t-v4lue@db/x?token=abc",
                "PGPASSWORD=zz",
                "--api-key",
                "ab1",
                "/data/ab1/x",
            ]),
            &strings(ENV),
        );
        assert_eq!(
            r.argv,
            strings(&[
                "/gameday-demo",
                "connect",
                "127.0.0.1:8080",
                "--password",
                "${DEMO_DB_PASSWORD}",
                "-p${DEMO_DB_PASSWORD}",
                "--token=***",
                "http://u:${DEMO_DB_PASSWORD}@db/x?token=***",
                "PGPASSWORD=***",
                "--api-key",
                "${API_KEY}",
                "/data/ab1/x",
            ])
        );
        assert_eq!(r.variables, strings(&["DEMO_DB_PASSWORD", "API_KEY"]));
        assert_eq!(r.hidden, 3);
        // No shell expands `${NAME}` in an argv.
        assert!(!r.runs_as_before);
    }

    #[test]
    fn a_shell_line_keeps_running_with_the_container_s_own_variable() {
        let r = argv(
            &strings(&[
                "/bin/sh",
                "-c",
                "mysqladmin ping -uroot -pS3cr3t-v4lue && PGPASSWORD=S3cr3t-v4lue psql \"postgres://app:S3cr3t-v4lue@db/app\" -c 'select 1' --password=\"ab1\"",
            ]),
            &strings(ENV),
        );
        assert_eq!(
            r.argv[2],
            "mysqladmin ping -uroot -p${DEMO_DB_PASSWORD} && PGPASSWORD=${DEMO_DB_PASSWORD} psql \"postgres://app:${DEMO_DB_PASSWORD}@db/app\" -c 'select 1' --password=\"${API_KEY}\""
        );
        assert_eq!(r.hidden, 0);
        assert!(r.runs_as_before);
        // In single quotes the shell would not expand it.
        let quoted = argv(
            &strings(&["sh", "-c", "check --password 'S3cr3t-v4lue'"]),
            &strings(ENV),
        );
        assert_eq!(quoted.argv[2], "check --password '${DEMO_DB_PASSWORD}'");
        assert!(!quoted.runs_as_before);
        // A secret no variable holds cannot be given back: `***`.
        let literal = argv(
            &strings(&["/bin/sh", "-c", "mysqladmin ping -proot -P 3306 -p3306"]),
            &strings(ENV),
        );
        assert_eq!(literal.argv[2], "mysqladmin ping -p*** -P 3306 -p3306");
        assert_eq!(literal.hidden, 1);
        assert!(!literal.runs_as_before);
        // Unexpanded references are no secret.
        let reference = argv(
            &strings(&["/bin/sh", "-c", "mysqladmin ping -p$DBPASSWORD"]),
            &strings(ENV),
        );
        assert_eq!(reference.argv[2], "mysqladmin ping -p$DBPASSWORD");
        assert!(reference.runs_as_before && reference.variables.is_empty());
    }

    #[test]
    fn an_argv_without_secrets_is_left_as_it_is() {
        let plain = strings(&["pg_isready", "-h", "db", "-p", "5432", "-U", "app"]);
        let r = argv(&plain, &strings(ENV));
        assert_eq!(r.argv, plain);
        assert!(r.runs_as_before && r.variables.is_empty() && r.hidden == 0);
    }

    #[test]
    fn secret_looking_variables() {
        for name in [
            "DBPASSWORD",
            "MYSQL_ROOT_PASSWORD",
            "API_KEY",
            "GITHUB_TOKEN",
            "aws_secret_access_key",
            "REDIS_PASS",
        ] {
            assert!(is_secret_variable(name), "{name}");
        }
        for name in [
            "PWD",
            "PATH",
            "POSTGRES_PASSWORD_FILE",
            "KEYCLOAK_URL",
            "MONKEY",
            "HOME",
            "PASSIVE_MODE",
        ] {
            assert!(!is_secret_variable(name), "{name}");
        }
    }

    proptest! {
        /// Whatever shape it is given in, a secret a variable holds never
        /// survives an argv or a shell line, and the variable is named.
        #[test]
        fn no_secret_survives_an_argv(
            secret in "[A-Za-z0-9]{4,16}",
            name in "(DB_PASSWORD|APP_TOKEN|SECRET|MYAPIKEY)",
            shape in 0usize..6,
            shell in proptest::bool::ANY,
        ) {
            let arg = match shape {
                0 => vec![format!("-p{secret}")],
                1 => vec!["--password".to_string(), secret.clone()],
                2 => vec![format!("--password={secret}")],
                3 => vec![format!("PGPASSWORD={secret}")],
                4 => vec![format!("redis://:{secret}@cache:6379")],
                _ => vec![format!("x{secret}y")],
            };
            let mut line = strings(&["/app", "check"]);
            line.extend(arg);
            let line = if shell {
                vec!["/bin/sh".to_string(), "-c".to_string(), line.join(" ")]
            } else {
                line
            };
            let env = vec![format!("{name}={secret}"), "PATH=/bin".to_string()];
            let r = argv(&line, &env);
            let all = r.argv.join(" ");
            prop_assert!(!all.contains(&secret), "{all}");
            prop_assert_eq!(r.variables, vec![name]);
            prop_assert_eq!(r.runs_as_before, shell);
        }
    }
}
