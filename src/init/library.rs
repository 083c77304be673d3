//! The library of ready gamedays (`gamedays/library/`, compiled in): each
//! runs as it is against the demo stack and is fitted to another stack by
//! its roles. A template's header names them:
//!
//! ```text
//! # library: dependency-hangs
//! # summary: A dependency hangs ...
//! # roles: project=gameday-demo caller=api dependency=store health_url=http://...
//! ```
//!
//! Fitting replaces, in the values of the file (never its keys or
//! comments), every scalar equal to a role's template value, or for a URL
//! every scalar starting with it, by the value given for the role; any
//! other URL at a URL role's origin (scheme, host and port) moves to the
//! new value's origin, so `/version` beside a health URL follows it. The
//! result is checked by the gameday loader before it is written.

use std::collections::BTreeMap;

use super::{Endpoint, Stack, StoreKind, ledger};
use crate::gameday::yaml::{self, Node, Value};

/// A ready gameday.
pub(crate) struct Template {
    pub name: &'static str,
    pub text: &'static str,
}

/// A template compiled in from `gamedays/library/NAME.yaml`: the name and
/// the file cannot drift apart.
macro_rules! template {
    ($name:literal) => {
        Template {
            name: $name,
            text: include_str!(concat!("../../gamedays/library/", $name, ".yaml")),
        }
    };
}

/// Every template, in the order `init --list` shows them.
pub(crate) const TEMPLATES: &[Template] = &[
    template!("dependency-down-at-start"),
    template!("dependency-hangs"),
    template!("slow-dependency"),
    template!("restarts"),
    template!("network-partition"),
    template!("alerting"),
    template!("deploy-and-rollback"),
    template!("breaking-points"),
    template!("datastore"),
];

/// Items of the production-readiness checklist no template proves yet:
/// said by `--list`, with why.
pub(crate) const NOT_YET: &[(&str, &str)] = &[
    (
        "disk full",
        "no template yet; the disk_fill fault is in gamedays/demo.yaml",
    ),
    (
        "memory pressure",
        "no template yet; the memory_stress fault is in gamedays/demo.yaml",
    ),
    (
        "DNS failure",
        "no template yet; the dns fault is in gamedays/demo.yaml",
    ),
    (
        "HTTP 5xx from a dependency",
        "no template yet; the http_fault fault is in gamedays/demo.yaml",
    ),
];

impl Template {
    pub(crate) fn find(name: &str) -> Option<&'static Template> {
        TEMPLATES.iter().find(|t| t.name == name)
    }

    /// The header line `# KEY: ...`.
    fn header(&self, key: &str) -> Option<&'static str> {
        let prefix = format!("# {key}: ");
        self.text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    pub(crate) fn summary(&self) -> &'static str {
        self.header("summary").unwrap_or("")
    }

    /// The roles and their values in the template, in header order.
    pub(crate) fn roles(&self) -> Vec<(&'static str, &'static str)> {
        self.header("roles")
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .collect()
    }

    /// The checklist items its scenarios carry, in order, each once.
    pub(crate) fn checklist(&self) -> Vec<String> {
        let mut items: Vec<String> = Vec::new();
        let env = super::ledger::checking_env;
        if let Ok(g) = crate::gameday::load_bytes(self.name, self.text.as_bytes(), &env) {
            for s in &g.scenarios {
                for c in &s.checklist {
                    if !items.contains(c) {
                        items.push(c.clone());
                    }
                }
            }
        }
        items
    }

    /// What `stack` says of this template's roles, and where each came
    /// from: `caller` and `dependency` from the stack's first dependency
    /// (for a template with a `database_url`, the first one on a database
    /// a ledger reaches, a pooler in front of it first), `health_url` from
    /// the caller's HTTP endpoint, `database_url` and `pool_url` as the
    /// ledgers `init` writes. Only roles the template has.
    pub(crate) fn values_from(&self, stack: &Stack) -> (BTreeMap<String, String>, Vec<String>) {
        let roles = self.roles();
        let has = |role: &str| roles.iter().any(|(r, _)| *r == role);
        let mut values = BTreeMap::new();
        let mut from_stack = Vec::new();
        let database = |name: &str| {
            stack.service(name).is_some_and(|s| {
                ledger::probe_name(s).is_some()
                    && s.datastore
                        .as_ref()
                        .is_some_and(|d| d.kind == StoreKind::Postgres)
            })
        };
        let fronts = |from: &str, to: &str| {
            stack
                .service(from)
                .and_then(|s| ledger::fronted(stack, s))
                .is_some_and(|b| b.name == to)
        };
        let edge = if has("database_url") {
            let on_database = || stack.edges.iter().filter(|e| database(&e.to));
            on_database()
                .find(|e| fronts(&e.from, &e.to))
                .or_else(|| on_database().next())
        } else {
            stack.edges.first()
        };
        let Some(edge) = edge else {
            return (values, from_stack);
        };
        values.insert("caller".to_string(), edge.from.clone());
        values.insert("dependency".to_string(), edge.to.clone());
        from_stack.push(format!(
            "caller={} dependency={} ({})",
            edge.from,
            edge.to,
            edge.source.describe()
        ));
        let caller = stack.service(&edge.from);
        let mut urls: Vec<(&str, String)> = Vec::new();
        if let Some(Endpoint::Http { url, .. }) = caller.and_then(|s| s.endpoint.as_ref()) {
            urls.push(("health_url", url.clone()));
        }
        let ledger_url = |name: &str| {
            let service = stack.service(name)?;
            ledger::postgres_url(stack, service).map(|(url, _)| url)
        };
        urls.extend(ledger_url(&edge.to).map(|u| ("database_url", u)));
        if fronts(&edge.from, &edge.to) {
            urls.extend(ledger_url(&edge.from).map(|u| ("pool_url", u)));
        }
        for (role, url) in urls.into_iter().filter(|(role, _)| has(role)) {
            from_stack.push(format!("{role}={url}"));
            values.insert(role.to_string(), url);
        }
        (values, from_stack)
    }

    /// The template with each role in `values` replaced (roles not given
    /// keep the template's value). Unknown roles are an error naming the
    /// known ones.
    pub(crate) fn fit(&self, values: &BTreeMap<String, String>) -> Result<String, String> {
        let roles = self.roles();
        for role in values.keys() {
            if !roles.iter().any(|(r, _)| r == role) {
                return Err(format!(
                    "template `{}` has no role `{role}`; its roles are {}",
                    self.name,
                    roles
                        .iter()
                        .map(|(r, v)| format!("{r} (now {v})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let swaps: Vec<(&str, &str)> = roles
            .iter()
            .filter_map(|(role, old)| {
                let new = values.get(*role)?;
                (new != old).then_some((*old, new.as_str()))
            })
            .collect();
        let root = yaml::parse(self.text).map_err(|e| {
            format!(
                "template `{}` is not YAML ({}:{}): {}",
                self.name, e.pos.line, e.pos.col, e.message
            )
        })?;
        let mut edits: Vec<Edit> = Vec::new();
        collect_edits(&root, &swaps, &mut edits);
        apply(self.text, edits)
    }
}

/// Replace `old` (as written at `line:col`, plain or quoted) by `new`.
struct Edit {
    line: u32,
    col: u32,
    old: String,
    new: String,
}

fn collect_edits(node: &Node, swaps: &[(&str, &str)], edits: &mut Vec<Edit>) {
    match &node.value {
        Value::Str(s) => {
            // A role's own value first, then a URL at a role's origin.
            let replaced = swaps
                .iter()
                .find_map(|(old, new)| swapped(s, old, new))
                .or_else(|| {
                    swaps
                        .iter()
                        .find_map(|(old, new)| moved_origin(s, old, new))
                });
            if let Some(replaced) = replaced {
                edits.push(Edit {
                    line: node.pos.line,
                    col: node.pos.col,
                    old: s.clone(),
                    new: replaced,
                });
            }
        }
        Value::Seq(items) => items.iter().for_each(|n| collect_edits(n, swaps, edits)),
        Value::Map(entries) => entries
            .iter()
            .for_each(|(_, n)| collect_edits(n, swaps, edits)),
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
    }
}

/// `s` with a role's value `old` replaced by `new`: all of it, or for a
/// URL its start.
fn swapped(s: &str, old: &str, new: &str) -> Option<String> {
    if s == old {
        Some(new.to_string())
    } else if old.contains("://") {
        s.strip_prefix(old).map(|rest| format!("{new}{rest}"))
    } else {
        None
    }
}

/// `s`, a URL at the origin of the URL role `old`, moved to the origin of
/// its new value `new`.
fn moved_origin(s: &str, old: &str, new: &str) -> Option<String> {
    let rest = s.strip_prefix(origin(old)?)?;
    let to = origin(new)?;
    (rest.is_empty() || rest.starts_with('/')).then(|| format!("{to}{rest}"))
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> Option<&str> {
    let host = url.find("://")? + 3;
    Some(&url[..url[host..].find('/').map_or(url.len(), |i| host + i)])
}

/// Apply the edits to the text, last first so positions stay right. Each
/// scalar must stand at its position as written (plain or quoted, no
/// escapes): anything else is refused rather than guessed.
fn apply(text: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    edits.sort_by_key(|e| std::cmp::Reverse((e.line, e.col)));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let line = lines
            .get_mut(e.line.saturating_sub(1) as usize)
            .ok_or_else(|| format!("line {} is not in the template", e.line))?;
        let start = line
            .char_indices()
            .nth(e.col.saturating_sub(1) as usize)
            .map(|(i, _)| i)
            .ok_or_else(|| format!("{}:{} is not in the template", e.line, e.col))?;
        let rest = &line[start..];
        let (skip, quote) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => (1, Some(q)),
            _ => (0, None),
        };
        if !rest[skip..].starts_with(&e.old) {
            return Err(format!(
                "{}:{}: `{}` is not written plainly there; cannot fit it",
                e.line, e.col, e.old
            ));
        }
        let new = match quote {
            Some(_) => {
                // Keep it a quoted scalar; JSON quoting is valid YAML.
                serde_json::to_string(&e.new).unwrap_or_else(|_| format!("\"{}\"", e.new))
            }
            None => super::write::scalar(&e.new),
        };
        let end = start + skip + e.old.len() + usize::from(quote.is_some());
        line.replace_range(start..end, &new);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_validates_names_its_roles_and_carries_a_checklist() {
        assert!(!TEMPLATES.is_empty());
        for t in TEMPLATES {
            let env = crate::init::ledger::checking_env;
            crate::gameday::load_bytes(t.name, t.text.as_bytes(), &env)
                .unwrap_or_else(|e| panic!("{}", e.render()));
            assert_eq!(t.header("library"), Some(t.name));
            assert!(!t.summary().is_empty(), "{}", t.name);
            let roles = t.roles();
            for role in ["project", "caller", "dependency"] {
                assert!(
                    roles.iter().any(|(r, _)| *r == role),
                    "{} lacks {role}",
                    t.name
                );
            }
            // A URL its probes reach the stack at, fitted with it.
            assert!(
                roles.iter().any(|(_, value)| value.contains("://")),
                "{} has no URL role",
                t.name
            );
            assert!(!t.checklist().is_empty(), "{}", t.name);
            for item in t.checklist() {
                assert!(
                    crate::init::checklist::ALL.contains(&item.as_str()),
                    "{}: `{item}` is not a checklist item of init::checklist",
                    t.name
                );
            }
        }
    }

    #[test]
    fn fitting_replaces_values_and_nothing_else() {
        let t = Template::find("network-partition").unwrap();
        let values: BTreeMap<String, String> = [
            ("project", "shop"),
            ("caller", "web"),
            ("dependency", "db"),
            ("health_url", "http://127.0.0.1:8000/healthz"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let text = t.fit(&values).unwrap();
        assert!(text.contains("scope: { compose_project: shop }"), "{text}");
        assert!(
            text.contains("fault: { partition: { service: web, from: [db] } }"),
            "{text}"
        );
        assert!(
            text.contains(r#"url: "http://127.0.0.1:8000/healthz""#),
            "{text}"
        );
        assert!(
            text.contains("caller-state: { container: { service: web } }"),
            "{text}"
        );
        // Comments and prose keep their words.
        assert!(
            text.contains("# roles: project=gameday-demo caller=api"),
            "{text}"
        );
        let env = |_: &str| None;
        let g = crate::gameday::load_bytes("fitted", text.as_bytes(), &env)
            .unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(g.scope.compose_project, "shop");
        let unknown: BTreeMap<String, String> = [("dependant".to_string(), "x".to_string())]
            .into_iter()
            .collect();
        let e = t.fit(&unknown).unwrap_err();
        assert!(e.contains("has no role `dependant`"), "{e}");
        assert!(e.contains("dependency (now store)"), "{e}");
    }

    #[test]
    fn a_url_at_a_url_role_s_origin_follows_it_and_the_image_is_a_role() {
        let t = Template::find("deploy-and-rollback").unwrap();
        let values: BTreeMap<String, String> = [
            ("caller", "web"),
            ("health_url", "https://shop.internal:8443/api/healthz"),
            ("image", "shop-web:2.4.1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let text = t.fit(&values).unwrap();
        assert!(
            text.contains(r#"url: "https://shop.internal:8443/api/healthz""#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"url: "https://shop.internal:8443/version", version: { json: version }"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"deploy: { service: web, image: "shop-web:2.4.1", strategy: rolling"#),
            "{text}"
        );
        // The demo's address is left only in comments.
        for line in text.lines().filter(|l| l.contains("18080")) {
            assert!(line.trim_start().starts_with('#'), "{line}");
        }
        let env = |_: &str| None;
        crate::gameday::load_bytes("fitted", text.as_bytes(), &env)
            .unwrap_or_else(|e| panic!("{}", e.render()));
        // Another host only shares a prefix: it stays.
        assert_eq!(
            moved_origin(
                "http://127.0.0.1:180800/x",
                "http://127.0.0.1:18080/health",
                "http://h/health"
            ),
            None
        );
        assert_eq!(
            origin("http://127.0.0.1:18080"),
            Some("http://127.0.0.1:18080")
        );
    }

    #[test]
    fn the_datastore_template_is_fitted_to_the_database_behind_a_pooler() {
        let stack = crate::init::ledger::tests::stack();
        let t = Template::find("datastore").unwrap();
        let (mut values, from_stack) = t.values_from(&stack);
        assert_eq!(
            from_stack,
            [
                "caller=pool dependency=db (depends_on)",
                "database_url=postgres://app:${PGPASSWORD}@127.0.0.1:15432/orders",
                "pool_url=postgres://app:${PGPASSWORD}@127.0.0.1:16432/orders",
            ]
        );
        values.insert("project".into(), "shop".into());
        let text = t.fit(&values).unwrap();
        assert!(
            text.contains(r#"postgres: { url: "postgres://app:${PGPASSWORD}@127.0.0.1:16432/orders", table: gameday_ledger_pool }"#),
            "{text}"
        );
        assert!(
            text.contains("fault: { pause: { service: db } }")
                && text.contains("caller-state: { container: { service: pool } }"),
            "{text}"
        );
        let g = crate::gameday::load_bytes("fitted", text.as_bytes(), &super::ledger::checking_env)
            .unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(g.scope.compose_project, "shop");
        // Another template takes the first dependency and its caller's health URL.
        let (values, _) = Template::find("network-partition")
            .unwrap()
            .values_from(&stack);
        assert_eq!(values.get("caller").map(String::as_str), Some("web"));
        assert_eq!(values.get("dependency").map(String::as_str), Some("pool"));
        assert_eq!(
            values.get("health_url").map(String::as_str),
            Some("http://127.0.0.1:8000/health")
        );
        assert!(!values.contains_key("database_url"));
    }
}
