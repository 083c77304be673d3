//! One file for a laptop and staging: named `environments:` and `${VAR}`
//! in every string of the gameday file, applied to the positioned tree
//! before it is decoded.
//!
//! The environment is chosen by `--env NAME`, else the file's
//! `environment:` when it names one of `environments:`, else `local` (which
//! need not be declared: the file's own `docker:` and `scope:` are
//! `local`'s). The chosen one's `docker:` keys override the file's, its
//! `scope:` replaces the file's, and its `variables:` are one source of
//! `${VAR}`. A variable is looked up, first found wins, in `--var
//! NAME=VALUE`, then `--env-file FILE`, then the environment's
//! `variables:`, then the process environment; a variable of the
//! environment may itself name one from the other three
//! (`TOKEN: ${STAGING_TOKEN}`). `$$` is a literal `$`. Every value put in is
//! kept as a [`Substitution`] (where it came from, and whether its name says
//! it is a secret) for `gameday plan`; an unset variable is an error at the
//! string that names it. A string that is one `${VAR}` and nothing else
//! takes the value's YAML type (`replicas: ${N}` is a number). The strings
//! of `scope:`, `docker:` and `hosts:` never take a value from the process
//! environment: a variable left exported in a shell must not move the
//! blast radius or the engine.

use std::fmt;

use super::decode::EnvLookup;
use super::diag::{Diagnostic, nearest};
use super::yaml::{Key, Node, Pos, Value};

/// The keys of one environment.
pub(crate) const ENVIRONMENT_KEYS: &[&str] = &["variables", "docker", "scope"];

/// The keys of `docker:` that say how its `host` is reached: an
/// environment that names another `host` does not inherit them.
const CONNECTION_KEYS: &[&str] = &["host", "tls", "insecure", "ssh", "socket"];

/// The name an undeclared default environment goes by.
pub(crate) const LOCAL: &str = "local";

/// What the command line gives beside the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inputs {
    /// `--var NAME=VALUE`, in order (a later one wins).
    pub vars: Vec<(String, String)>,
    /// `--env-file FILE`: its name and its `NAME=VALUE` lines.
    pub env_file: Option<(String, Vec<(String, String)>)>,
    /// `--env NAME`.
    pub env: Option<String>,
}

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    EnvFile(String),
    Environment(String),
    Process,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::CommandLine => f.write_str("--var"),
            Source::EnvFile(file) => write!(f, "--env-file {file}"),
            Source::Environment(env) => write!(f, "environments.{env}.variables"),
            Source::Process => f.write_str("the process environment"),
        }
    }
}

/// One variable put into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    pub name: String,
    pub value: String,
    pub source: Source,
    /// Its name says it holds a secret (`redact::is_secret_variable`:
    /// PASSWORD, TOKEN, SECRET, KEY, ...): never shown, its value
    /// remembered by `redact` and hidden in all gameday writes and prints.
    pub secret: bool,
    /// Its value is, or holds, one from the process environment.
    pub via_shell: bool,
    /// Where it is first used.
    pub pos: Pos,
}

impl Substitution {
    /// The value as `gameday plan` shows it.
    pub fn shown(&self) -> String {
        if self.secret {
            "<secret>".to_string()
        } else {
            crate::redact::text(&self.value)
        }
    }
}

/// What applying the environment did to the tree.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    /// Every declared environment, in file order.
    pub declared: Vec<String>,
    pub substitutions: Vec<Substitution>,
    /// Strings left as written (a variable unset, a `${` unclosed): the
    /// file is still decoded, and what the decoder says at these strings
    /// is left out.
    pub problems: Vec<Diagnostic>,
}

/// Choose the environment, merge it into `root`, and put every `${VAR}`
/// in; `Err` only when the environment cannot be chosen.
pub(crate) fn apply(
    root: &mut Node,
    inputs: &Inputs,
    process: EnvLookup<'_>,
) -> Result<Applied, Vec<Diagnostic>> {
    let Value::Map(entries) = &mut root.value else {
        return Ok(Applied::default());
    };
    let mut diags = Vec::new();
    let environments = take(entries, "environments");
    let declared = environments
        .as_ref()
        .map(|(_, n)| declared_environments(n, &mut diags))
        .unwrap_or_default();
    let file_env = entries
        .iter()
        .find(|(k, _)| k.name == "environment")
        .and_then(|(_, n)| match &n.value {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        });
    let before = diags.len();
    let chosen = choose(
        inputs,
        file_env.as_deref(),
        &declared,
        &environments,
        &mut diags,
    );
    if diags.len() > before {
        // No such environment: what its variables would be is not known.
        return Err(diags);
    }
    let mut env_vars = Vec::new();
    if let Some((name, Some(body))) = &chosen {
        merge(entries, body);
        env_vars = variables_of(body, &mut Vec::new());
        set_environment(entries, name, body.pos);
    } else if let Some((name, None)) = &chosen {
        set_environment(entries, name, Pos::UNKNOWN);
    }
    let lookup = Lookup {
        inputs,
        env_name: chosen.as_ref().map(|(n, _)| n.clone()).unwrap_or_default(),
        env_vars,
        process,
    };
    let mut walk = Walk {
        lookup: &lookup,
        diags,
        found: Vec::new(),
        guarded: None,
    };
    walk.root(root);
    let Walk {
        mut diags, found, ..
    } = walk;
    scrub(&mut diags, &found);
    Ok(Applied {
        declared: declared.into_iter().map(|(n, _)| n).collect(),
        substitutions: found,
        problems: diags,
    })
}

/// Replace every secret value in the messages with `<NAME>`.
pub(crate) fn scrub(diags: &mut [Diagnostic], found: &[Substitution]) {
    for s in found
        .iter()
        .filter(|s| s.secret && s.value.chars().count() >= crate::redact::KNOWN_MIN_CHARS)
    {
        let with = format!("<{}>", s.name);
        for d in diags.iter_mut() {
            d.message = d.message.replace(&s.value, &with);
            if let Some(h) = &mut d.hint {
                *h = h.replace(&s.value, &with);
            }
        }
    }
}

/// Remove and return the entry `key` of a mapping.
fn take(entries: &mut Vec<(Key, Node)>, key: &str) -> Option<(Key, Node)> {
    let at = entries.iter().position(|(k, _)| k.name == key)?;
    Some(entries.remove(at))
}

/// `environments:`'s names and bodies, their keys checked.
fn declared_environments(node: &Node, diags: &mut Vec<Diagnostic>) -> Vec<(String, Node)> {
    let Value::Map(envs) = &node.value else {
        diags.push(
            Diagnostic::new(
                node.pos,
                format!(
                    "expected `environments` as a mapping of names, found {}",
                    node.value.kind()
                ),
            )
            .with_hint("write `environments: { staging: { variables: { API: \"https://...\" }, docker: { host: \"tcp://...:2376\" } } }`"),
        );
        return Vec::new();
    };
    let mut out: Vec<(String, Node)> = Vec::new();
    for (key, body) in envs {
        if out.iter().any(|(n, _)| *n == key.name) {
            diags.push(Diagnostic::new(
                key.pos,
                format!("environment `{}` is defined twice", key.name),
            ));
            continue;
        }
        match &body.value {
            Value::Map(keys) => {
                for (k, _) in keys {
                    if !ENVIRONMENT_KEYS.contains(&k.name.as_str()) {
                        diags.push(
                            Diagnostic::new(
                                k.pos,
                                format!("unknown key `{}` in environment `{}`", k.name, key.name),
                            )
                            .with_hint(
                                match nearest(&k.name, ENVIRONMENT_KEYS.iter().copied()) {
                                    Some(near) => format!("did you mean `{near}`?"),
                                    None => format!(
                                        "an environment has {}",
                                        ENVIRONMENT_KEYS
                                            .iter()
                                            .map(|k| format!("`{k}`"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                },
                            ),
                        );
                    }
                }
            }
            Value::Null => {}
            other => diags.push(
                Diagnostic::new(
                    body.pos,
                    format!(
                        "expected environment `{}` as a mapping, found {}",
                        key.name,
                        other.kind()
                    ),
                )
                .with_hint("write `{ variables: {...}, docker: {...}, scope: {...} }`"),
            ),
        }
        // Every environment's variables are checked, not only the chosen one's.
        let _ = variables_of(body, diags);
        out.push((key.name.clone(), body.clone()));
    }
    out
}

/// The environment chosen, with its body when it is declared.
fn choose(
    inputs: &Inputs,
    file_env: Option<&str>,
    declared: &[(String, Node)],
    environments: &Option<(Key, Node)>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(String, Option<Node>)> {
    let body = |name: &str| {
        declared
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
    };
    if let Some(asked) = &inputs.env {
        if let Some(b) = body(asked) {
            return Some((asked.clone(), Some(b)));
        }
        if asked == LOCAL || Some(asked.as_str()) == file_env {
            return Some((asked.clone(), None));
        }
        let names: Vec<String> = declared.iter().map(|(n, _)| format!("`{n}`")).collect();
        let (pos, message) = match environments {
            Some((key, _)) => (
                key.pos,
                format!(
                    "`--env {asked}`: the file has no environment `{asked}` (it has {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ),
            None => (
                Pos::UNKNOWN,
                format!("`--env {asked}`: the file declares no `environments:`"),
            ),
        };
        diags.push(Diagnostic::new(pos, message).with_hint(format!(
            "add `environments: {{ {asked}: {{ variables: {{...}}, docker: {{...}}, scope: {{...}} }} }}`, or choose one it has (`local` is the file's own settings)"
        )));
        return None;
    }
    if let Some(name) = file_env
        && let Some(b) = body(name)
    {
        return Some((name.to_string(), Some(b)));
    }
    if let Some(b) = body(LOCAL) {
        return Some((LOCAL.to_string(), Some(b)));
    }
    environments
        .as_ref()
        .map(|_| (file_env.unwrap_or(LOCAL).to_string(), None))
}

/// The environment's `docker:` keys over the file's; its `scope:` instead
/// of the file's.
fn merge(entries: &mut Vec<(Key, Node)>, body: &Node) {
    let Value::Map(keys) = &body.value else {
        return;
    };
    for (key, value) in keys {
        match key.name.as_str() {
            "docker" => {
                let at = entries.iter().position(|(k, _)| k.name == "docker");
                match (at, &value.value) {
                    (Some(at), Value::Map(over)) => {
                        if let Value::Map(base) = &mut entries[at].1.value {
                            // Another engine: the file's way of reaching its own does not carry over.
                            if over.iter().any(|(k, _)| k.name == "host") {
                                base.retain(|(b, _)| !CONNECTION_KEYS.contains(&b.name.as_str()));
                            }
                            for (k, v) in over {
                                base.retain(|(b, _)| b.name != k.name);
                                base.push((k.clone(), v.clone()));
                            }
                        } else {
                            entries[at].1 = value.clone();
                        }
                    }
                    (Some(at), _) => entries[at].1 = value.clone(),
                    (None, _) => entries.push((key.clone(), value.clone())),
                }
            }
            "scope" => {
                entries.retain(|(k, _)| k.name != "scope");
                entries.push((key.clone(), value.clone()));
            }
            _ => {}
        }
    }
}

/// `environment:` set to the chosen name (the report's Environment line).
fn set_environment(entries: &mut Vec<(Key, Node)>, name: &str, pos: Pos) {
    entries.retain(|(k, _)| k.name != "environment");
    entries.push((
        Key {
            pos,
            name: "environment".to_string(),
        },
        Node {
            pos,
            value: Value::Str(name.to_string()),
        },
    ));
}

/// An environment's `variables:` as written (their own `${VAR}`s are put
/// in when they are used).
fn variables_of(body: &Node, diags: &mut Vec<Diagnostic>) -> Vec<(String, String, Pos)> {
    let Value::Map(keys) = &body.value else {
        return Vec::new();
    };
    let Some((_, vars)) = keys.iter().find(|(k, _)| k.name == "variables") else {
        return Vec::new();
    };
    let Value::Map(vars) = &vars.value else {
        diags.push(
            Diagnostic::new(
                vars.pos,
                format!(
                    "expected `variables` as a mapping of names to values, found {}",
                    vars.value.kind()
                ),
            )
            .with_hint("write `variables: { API: \"https://staging.example\", REPLICAS: 3 }`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in vars {
        if !valid_name(&k.name) {
            diags.push(bad_name(k.pos, &k.name));
            continue;
        }
        let value = match &v.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                diags.push(
                    Diagnostic::new(
                        v.pos,
                        format!(
                            "expected variable `{}` as text or a number, found {}",
                            k.name,
                            other.kind()
                        ),
                    )
                    .with_hint("a variable's value is put into strings: write it as text"),
                );
                continue;
            }
        };
        out.push((k.name.clone(), value, v.pos));
    }
    out
}

fn valid_name(name: &str) -> bool {
    crate::redact::is_identifier(name)
}

fn bad_name(pos: Pos, name: &str) -> Diagnostic {
    Diagnostic::new(pos, format!("`{name}` is not a variable name"))
        .with_hint("a name is letters, digits and `_`, not starting with a digit, e.g. `API_URL`")
}

/// Where variables are looked up, in order.
struct Lookup<'a> {
    inputs: &'a Inputs,
    env_name: String,
    env_vars: Vec<(String, String, Pos)>,
    process: EnvLookup<'a>,
}

impl Lookup<'_> {
    /// From `--var`, `--env-file`, or the process (not the environment's).
    fn outer(&self, name: &str) -> Option<(String, Source)> {
        if let Some((_, v)) = self.inputs.vars.iter().rev().find(|(n, _)| n == name) {
            return Some((v.clone(), Source::CommandLine));
        }
        if let Some((file, lines)) = &self.inputs.env_file
            && let Some((_, v)) = lines.iter().rev().find(|(n, _)| n == name)
        {
            return Some((v.clone(), Source::EnvFile(file.clone())));
        }
        None
    }

    fn environment(&self, name: &str) -> Option<&(String, String, Pos)> {
        self.env_vars.iter().rev().find(|(n, _, _)| n == name)
    }
}

/// The walk over the tree, putting values in.
struct Walk<'a, 'l> {
    lookup: &'a Lookup<'l>,
    diags: Vec<Diagnostic>,
    found: Vec<Substitution>,
    /// The top-level key being walked when it says where faults go
    /// (`scope`, `docker`, `hosts`): its variables are never taken from
    /// the process environment.
    guarded: Option<&'static str>,
}

/// The keys whose strings choose the blast radius or the engine.
const GUARDED: &[&str] = &["scope", "docker", "hosts"];

impl Walk<'_, '_> {
    /// The whole file: each top-level key, guarded or not.
    fn root(&mut self, root: &mut Node) {
        let Value::Map(entries) = &mut root.value else {
            return self.node(root);
        };
        for (key, value) in entries.iter_mut() {
            self.guarded = GUARDED.iter().copied().find(|g| *g == key.name);
            self.node(value);
        }
        self.guarded = None;
    }

    fn node(&mut self, node: &mut Node) {
        match &mut node.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| self.node(n)),
            Value::Map(entries) => {
                for (key, n) in entries.iter_mut() {
                    // A target's `host:` chooses the engine too.
                    if key.name == "host" && self.guarded.is_none() {
                        self.guarded = Some("host");
                        self.node(n);
                        self.guarded = None;
                    } else {
                        self.node(n);
                    }
                }
            }
            Value::Str(text) if text.contains('$') => {
                let whole = whole_reference(text);
                if let Some(out) = self.expand(text, node.pos) {
                    node.value = match whole {
                        true => typed(out),
                        false => Value::Str(out),
                    };
                }
            }
            _ => {}
        }
    }

    /// `text` with its variables put in, or `None` (reported).
    fn expand(&mut self, text: &str, pos: Pos) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut ok = true;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    self.diags.push(
                        Diagnostic::new(pos, "unclosed `${` in this string")
                            .with_hint("write `${NAME}`, or `$$` for a literal dollar sign"),
                    );
                    return None;
                };
                let name = &body[..end];
                match self.value_of(name, pos) {
                    Some(v) => out.push_str(&v),
                    None => ok = false,
                }
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        ok.then_some(out)
    }

    /// One variable's value, recorded; `None` (reported) when unset.
    fn value_of(&mut self, name: &str, pos: Pos) -> Option<String> {
        if !valid_name(name) {
            self.diags.push(bad_name(pos, name));
            return None;
        }
        if let Some(s) = self.found.iter().find(|s| s.name == name) {
            let (value, via_shell) = (s.value.clone(), s.via_shell);
            return self.unguarded(name, pos, via_shell).then_some(value);
        }
        let lookup = self.lookup;
        let mut via_shell = false;
        let found = if let Some(outer) = lookup.outer(name) {
            Some(outer)
        } else if let Some((_, raw, at)) = lookup.environment(name) {
            let raw = raw.clone();
            let at = *at;
            let Some((value, shell)) = self.expand_environment_value(name, &raw, at) else {
                self.diags.push(Diagnostic::new(
                    pos,
                    format!("variable `{name}` cannot be put in: its definition has a problem (reported there)"),
                ));
                return None;
            };
            via_shell = shell;
            Some((value, Source::Environment(lookup.env_name.clone())))
        } else {
            via_shell = true;
            (lookup.process)(name).map(|v| (v, Source::Process))
        };
        let Some((value, source)) = found else {
            self.diags
                .push(unset(pos, name, &lookup.env_name, self.guarded.is_none()));
            return None;
        };
        let allowed = self.unguarded(name, pos, via_shell);
        self.found.push(Substitution {
            name: name.to_string(),
            value: value.clone(),
            secret: crate::redact::is_secret_variable(name),
            via_shell,
            source,
            pos,
        });
        allowed.then_some(value)
    }

    /// May a value from `source` go here? Not one from the process
    /// environment into `scope:`, `docker:` or `hosts:` (reported): a
    /// variable left exported in a shell must never move the blast radius
    /// or the engine.
    fn unguarded(&mut self, name: &str, pos: Pos, via_shell: bool) -> bool {
        let Some(key) = self.guarded else {
            return true;
        };
        if !via_shell {
            return true;
        }
        self.diags.push(
            Diagnostic::new(
                pos,
                format!(
                    "`${{{name}}}` in `{key}:` would take (some of) its value from the process environment"
                ),
            )
            .with_hint(format!(
                "the scope and the engine are never taken from a shell's variables: give `{name}` with `--var {name}=...`, in an `--env-file`, or in an environment's `variables:`"
            )),
        );
        false
    }

    /// An environment's variable may name one of `--var`, `--env-file` or
    /// the process (never another of the environment's: no chains).
    /// The value, and whether any of it came from the process environment.
    fn expand_environment_value(
        &mut self,
        name: &str,
        raw: &str,
        at: Pos,
    ) -> Option<(String, bool)> {
        let own: Vec<String> = references(raw)
            .into_iter()
            .filter(|r| self.lookup.environment(r).is_some())
            .collect();
        if !own.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    at,
                    format!(
                        "variable `{name}` names `{}`, another variable of the same environment",
                        own.join("`, `")
                    ),
                )
                .with_hint(
                    "the variables of an environment do not name each other: write the value out",
                ),
            );
            return None;
        }
        let inner = Lookup {
            inputs: self.lookup.inputs,
            env_name: self.lookup.env_name.clone(),
            env_vars: Vec::new(),
            process: self.lookup.process,
        };
        let mut nested = Walk {
            lookup: &inner,
            diags: Vec::new(),
            found: Vec::new(),
            guarded: None,
        };
        let value = nested.expand(raw, at);
        self.diags.append(&mut nested.diags);
        let via_shell = nested.found.iter().any(|s| s.via_shell);
        for mut s in nested.found {
            // A secret put into a variable keeps the outer name secret too.
            s.secret = s.secret || crate::redact::is_secret_variable(name);
            if !self.found.iter().any(|f| f.name == s.name) {
                self.found.push(s);
            }
        }
        value.map(|v| (v, via_shell))
    }
}

/// An unset variable; `from_shell`: the process environment would do.
fn unset(pos: Pos, name: &str, env: &str, from_shell: bool) -> Diagnostic {
    let environment = if env.is_empty() {
        String::new()
    } else {
        format!(", in `environments.{env}.variables`")
    };
    let shell = if from_shell {
        format!(", or `export {name}=...`")
    } else {
        String::new()
    };
    Diagnostic::new(pos, format!("variable `{name}` is not set")).with_hint(format!(
        "give it with `--var {name}=...`, in an `--env-file`{environment}{shell}; write `$${{{name}}}` for the text itself"
    ))
}

/// The names `${NAME}` in `text` refers to (`$$` skipped).
fn references(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            names.push(body[..end].to_string());
            rest = &body[end + 1..];
        } else {
            rest = after;
        }
    }
    names
}

/// Is the whole string one `${NAME}`?
fn whole_reference(text: &str) -> bool {
    text.strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .is_some_and(valid_name)
}

/// A value standing alone takes its YAML type.
/// (Only when the number reads back as the same text: `007`, `1.10` and
/// `+5` stay text.)
fn typed(value: String) -> Value {
    if let Ok(i) = value.parse::<i64>()
        && i.to_string() == value
    {
        Value::Int(i)
    } else if let Ok(f) = value.parse::<f64>()
        && f.is_finite()
        && f.to_string() == value
    {
        Value::Float(f)
    } else if value == "true" || value == "false" {
        Value::Bool(value == "true")
    } else {
        Value::Str(value)
    }
}

/// Read an env file: `NAME=VALUE` lines, `#` comments, blank lines, an
/// optional `export ` and quotes around the value. An error names the line.
pub(crate) fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err((
                i + 1,
                "expected `NAME=VALUE` (the line is not shown: it may hold a secret)".to_string(),
            ));
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err((i + 1, format!("`{name}` is not a variable name")));
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| {
                value
                    .strip_prefix(*q)
                    .and_then(|v| v.strip_suffix(*q))
                    .filter(|_| value.len() >= 2)
            })
            .unwrap_or(value);
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// `NAME=VALUE` from `--var`.
pub(crate) fn parse_var(arg: &str) -> Result<(String, String), String> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(format!(
            "expected NAME=VALUE, found `{arg}` (e.g. `--var API_URL=http://127.0.0.1:8080`)"
        ));
    };
    if !valid_name(name) {
        return Err(format!(
            "`{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests;
