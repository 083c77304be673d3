//! The parts of a docker-compose file that `gameday init` reads: each
//! service's `depends_on` (list or mapping form). Everything else `init`
//! needs it reads from the running containers. YAML stays inside
//! `gameday/`: this uses the same positioned tree as the gameday file.

use super::yaml::{self, Node, Value};

/// A service of a compose file and the services it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComposeService {
    pub name: String,
    pub depends_on: Vec<String>,
}

/// The services of a compose file, in file order, or why it cannot be read
/// (`file:line:col: message`).
pub(crate) fn services(file: &str, text: &str) -> Result<Vec<ComposeService>, String> {
    let root = yaml::parse(text)
        .map_err(|e| format!("{file}:{}:{}: {}", e.pos.line, e.pos.col, e.message))?;
    let at = |node: &Node, what: &str| {
        format!(
            "{file}:{}:{}: expected {what}, found {}",
            node.pos.line,
            node.pos.col,
            node.value.kind()
        )
    };
    let Value::Map(top) = &root.value else {
        return Err(at(&root, "a compose file (a mapping with `services:`)"));
    };
    let Some((_, services)) = top.iter().find(|(k, _)| k.name == "services") else {
        return Err(format!(
            "{file}: no `services:` (a version 1 compose file without it is not supported)"
        ));
    };
    let Value::Map(entries) = &services.value else {
        return Err(at(services, "`services` as a mapping"));
    };
    let mut out = Vec::new();
    for (name, body) in entries {
        let mut depends_on = Vec::new();
        if let Value::Map(keys) = &body.value
            && let Some((_, deps)) = keys.iter().find(|(k, _)| k.name == "depends_on")
        {
            match &deps.value {
                Value::Seq(items) => {
                    for item in items {
                        match &item.value {
                            Value::Str(s) => depends_on.push(s.clone()),
                            _ => return Err(at(item, "a service name")),
                        }
                    }
                }
                // `depends_on: { db: { condition: service_healthy } }`
                Value::Map(deps) => depends_on.extend(deps.iter().map(|(k, _)| k.name.clone())),
                _ => return Err(at(deps, "`depends_on` as a list or a mapping")),
            }
        }
        out.push(ComposeService {
            name: name.name.clone(),
            depends_on,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_in_both_forms() {
        let text = "version: '2.4'\nservices:\n  db: { image: x }\n  api:\n    depends_on: [db]\n  web:\n    depends_on:\n      api: { condition: service_started }\n      db: { condition: service_healthy }\n";
        let s = services("c.yml", text).unwrap();
        assert_eq!(
            s,
            vec![
                ComposeService {
                    name: "db".into(),
                    depends_on: vec![]
                },
                ComposeService {
                    name: "api".into(),
                    depends_on: vec!["db".into()]
                },
                ComposeService {
                    name: "web".into(),
                    depends_on: vec!["api".into(), "db".into()]
                },
            ]
        );
    }

    #[test]
    fn errors_are_located() {
        let e = services("c.yml", "services:\n  api:\n    depends_on: 3\n").unwrap_err();
        assert_eq!(
            e,
            "c.yml:3:17: expected `depends_on` as a list or a mapping, found a number"
        );
        let e = services("c.yml", "image: x\n").unwrap_err();
        assert!(e.contains("no `services:`"), "{e}");
    }
}
