//! The `deploy` fault's keys: the image (a reference, never pulled), the
//! strategy, when a replica is ready, its timeout and the time checks.

use super::*;

pub(super) const DEPLOY_KEYS: &[&str] = &[
    "image",
    "strategy",
    "wait",
    "timeout",
    "deploy_time",
    "rollback_time",
];

/// `[registry/]path[:tag][@digest]`: no scheme, no credentials, no
/// spaces; the path (after a registry, which holds a `.` or a `:` or is
/// `localhost`) in lower case, as the engine requires.
fn is_image_reference(text: &str) -> bool {
    if text.contains("://") || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let (named, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    if digest.is_some_and(|d| {
        !d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
        })
    }) {
        return false;
    }
    let (registry, rest) = match named.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, named),
    };
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (rest, None),
    };
    let path_ok = !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
        });
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    let registry_ok = registry.is_none_or(|r| {
        r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
    });
    path_ok && tag_ok && registry_ok
}

/// An optional key's value: `Some(None)` when absent, `None` when it was
/// given and invalid (its error is reported).
fn present<T>(decoded: Option<Option<T>>) -> Option<Option<T>> {
    match decoded {
        None => Some(None),
        Some(value) => value.map(Some),
    }
}

impl Decoder<'_> {
    /// `deploy`: what to roll out and how; every key has a default.
    pub(super) fn deploy(&mut self, target: Target, obj: &Obj<'_>) -> Option<Fault> {
        let image = present(obj.get("image").map(|n| self.image(n)));
        let strategy = obj
            .get("strategy")
            .map(|n| self.strategy(n))
            .unwrap_or(Some(DeployStrategy::Rolling));
        let wait = obj
            .get("wait")
            .map(|n| self.deploy_wait(n))
            .unwrap_or(Some(DeployWait::Auto));
        let timeout = obj
            .get("timeout")
            .map(|n| self.duration(n, "`timeout`"))
            .unwrap_or(Some(HumanDuration::from_secs(120)));
        let deploy_time = present(
            obj.get("deploy_time")
                .map(|n| self.comparison::<HumanDuration>(n, "`deploy_time`", "< 60s")),
        );
        let rollback_time = present(
            obj.get("rollback_time")
                .map(|n| self.comparison::<HumanDuration>(n, "`rollback_time`", "< 30s")),
        );
        Some(Fault::Deploy(DeployFault {
            target,
            image: image?,
            strategy: strategy?,
            wait: wait?,
            timeout: timeout?,
            deploy_time: deploy_time?,
            rollback_time: rollback_time?,
        }))
    }

    /// An image reference: `[registry/]name[:tag][@sha256:...]`, the
    /// name's path in lower case; never a URL or credentials.
    fn image(&mut self, node: &Node) -> Option<String> {
        let text = self.name(node, "`image`")?;
        if !is_image_reference(&text) {
            self.error_hint(
                node.pos,
                "this is not an image reference".to_string(),
                "write it as `docker images` lists it, e.g. `shop-api:2.4.1` (the name in lower case; no URL, no credentials)",
            );
            return None;
        }
        Some(text)
    }

    fn strategy(&mut self, node: &Node) -> Option<DeployStrategy> {
        match self.name(node, "`strategy`").as_deref() {
            Some("rolling") => Some(DeployStrategy::Rolling),
            Some("recreate") => Some(DeployStrategy::Recreate),
            Some(other) => {
                self.error_hint(
                    node.pos,
                    format!("unknown strategy `{other}`"),
                    "use `rolling` (one replica at a time, the default) or `recreate` (all at once)",
                );
                None
            }
            None => None,
        }
    }

    /// `healthy`, `running`, `auto`, or `{ probe: NAME }` of a declared probe.
    fn deploy_wait(&mut self, node: &Node) -> Option<DeployWait> {
        const HINT: &str = "use `healthy`, `running`, `auto` (the default) or `{ probe: NAME }` (an HTTP or TCP probe)";
        if let Value::Map(_) = &node.value {
            let obj = self.obj(node, "`wait`", &["probe"])?;
            let probe = self.require(&obj, "probe", "`wait`", "api-health")?;
            let name = self.name(probe, "the probe name")?;
            if !self.declared_probes.contains(&name) {
                let names: Vec<&str> = self.declared_probes.iter().map(String::as_str).collect();
                let hint = match nearest(&name, names.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "name a probe of `probes:` (an HTTP or TCP probe)".to_string(),
                };
                self.error_hint(probe.pos, format!("unknown probe `{name}`"), hint);
                return None;
            }
            return Some(DeployWait::Probe(name));
        }
        match self.name(node, "`wait`").as_deref() {
            Some("auto") => Some(DeployWait::Auto),
            Some("healthy") => Some(DeployWait::Healthy),
            Some("running") => Some(DeployWait::Running),
            Some(other) => {
                self.error_hint(node.pos, format!("unknown wait `{other}`"), HINT);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_references_as_the_engine_takes_them() {
        for ok in [
            "shop-api:2.4.1",
            "gameday-demo:v2",
            "registry.example.com:5000/team/shop-api:2",
            "localhost/app",
            "app@sha256:0123abcd",
            "app:1@sha256:0123abcd",
        ] {
            assert!(super::is_image_reference(ok), "{ok}");
        }
        for bad in [
            "shop api:2",
            "Shop-API:1",
            "https://user:token@registry/app:1",
            "app:",
            ":1",
            "-app",
            "app@sha256:zz",
            "user:token@registry/app",
        ] {
            assert!(!super::is_image_reference(bad), "{bad}");
        }
    }
}
