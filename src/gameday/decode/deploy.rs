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

    /// An image reference: `name[:tag]` or `name@sha256:...`, no spaces.
    fn image(&mut self, node: &Node) -> Option<String> {
        let text = self.name(node, "`image`")?;
        if text.chars().any(char::is_whitespace) || text.starts_with(['-', ':', '@']) {
            self.error_hint(
                node.pos,
                format!("`{text}` is not an image reference"),
                "write it as `docker images` lists it, e.g. `shop-api:2.4.1`",
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
