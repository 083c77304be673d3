//! The `http_fault` kind: a transparent HTTP/1.1 proxy in the target's
//! network namespace (`gameday http-proxy`, hidden, in `proxy.rs`), fed by
//! one `nat PREROUTING REDIRECT` rule for the named port, commented with the
//! fault's tag like every rule gameday writes. Requests arriving from
//! outside the container are redirected; the proxy's own connections to
//! the service are local, so they never are. Connections already open
//! when the rule goes in are not redirected (conntrack keeps their path),
//! so requests on them are unaffected until they reconnect.
//!
//! This module is the runner's side: the plan the proxy is given, the
//! rule, starting the proxy and stopping it (its stdin closes; it removes
//! the rule itself, passes what is in flight, and says what it counted).
//! The revert recipe is `NetRules`: rules by tag, and the proxy process by
//! tag, from any process (the watchdog, `recover`).

use std::time::Duration;

use super::child::{Child, First, Via, helper_error, helper_labels};
use crate::docker::Inside;
use crate::gameday::model::{HttpAction, HttpFault, HttpMatch};

mod proxy;
pub(crate) use proxy::serve;

/// How long the proxy may take to listen and redirect.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How long a stopped proxy may take to end (it passes what is in flight
/// for up to 5 s).
const STOP_WITHIN: Duration = Duration::from_secs(8);

/// What the proxy does, as it is handed over (one JSON argument).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Plan {
    pub port: u16,
    pub matcher: HttpMatch,
    /// Share of matching requests affected, 0 to 100.
    pub percent: f64,
    pub action: HttpAction,
}

impl Plan {
    pub(crate) fn of(fault: &HttpFault) -> Plan {
        Plan {
            port: fault.port,
            matcher: fault.matcher.clone(),
            percent: fault.percent.0,
            action: fault.action(),
        }
    }
}

/// The redirect of `port` to the proxy's `own_port`.
pub(crate) struct Rule {
    spec: Vec<String>,
}

pub(crate) fn redirect_rule(port: u16, own_port: u16, tag: &str) -> Rule {
    let spec = [
        "PREROUTING",
        "-p",
        "tcp",
        "--dport",
        &port.to_string(),
        "-m",
        "comment",
        "--comment",
        tag,
        "-j",
        "REDIRECT",
        "--to-ports",
        &own_port.to_string(),
    ]
    .map(String::from)
    .to_vec();
    Rule { spec }
}

impl Rule {
    fn with(&self, op: &str) -> Vec<String> {
        let mut args: Vec<String> = ["-w", "5", "-t", "nat", op].map(String::from).to_vec();
        args.extend(self.spec.iter().cloned());
        args
    }

    pub(crate) fn add(&self) -> Vec<String> {
        self.with("-A")
    }

    pub(crate) fn delete(&self) -> Vec<String> {
        self.with("-D")
    }
}

/// A proxy in place, started by the run (see [`Child`]).
#[derive(Debug)]
pub(crate) struct Proxy(Child);

/// `gameday http-proxy ...`: the proxy's arguments after the program.
fn proxy_args(
    pid: i64,
    container_id: &str,
    tag: &str,
    plan: &Plan,
    max_lifetime: Duration,
) -> Result<Vec<String>, String> {
    let plan_json = serde_json::to_string(plan).map_err(|e| e.to_string())?;
    Ok([
        "http-proxy",
        "--pid",
        &pid.to_string(),
        "--container",
        container_id,
        "--tag",
        tag,
        "--plan",
        &plan_json,
        "--max-seconds",
        &max_lifetime.as_secs().max(1).to_string(),
    ]
    .map(String::from)
    .to_vec())
}

/// Start the proxy for container `container_id` and wait until its
/// redirect is in place. Returns it and what is in place, in words.
pub(crate) async fn start(
    via: Via<'_>,
    container_id: &str,
    tag: &str,
    plan: &Plan,
    max_lifetime: Duration,
) -> Result<(Proxy, String), String> {
    let child = match via {
        Via::ThisHost { pid } => {
            let exe =
                std::env::current_exe().map_err(|e| format!("cannot find gameday itself: {e}"))?;
            let mut cmd = tokio::process::Command::new(exe);
            cmd.args(proxy_args(pid, container_id, tag, plan, max_lifetime)?);
            Child::spawn(cmd).map_err(|e| format!("cannot start the HTTP proxy: {e}"))?
        }
        // In the helper, the target's main process is PID 1.
        Via::Helper { engine, image } => {
            let mut argv = vec!["/gameday".to_string()];
            argv.extend(proxy_args(1, container_id, tag, plan, max_lifetime)?);
            argv.push("--placed".into());
            let inside = Inside {
                cgroup: false,
                mounts: false,
                network: true,
            };
            Child::start_helper(
                engine,
                container_id,
                image,
                &argv,
                helper_labels(tag),
                inside,
            )
            .await
            .map_err(|e| helper_error(image, e))?
        }
    };
    match child.first_line(READY_WITHIN).await {
        (Some(child), First::Line(line)) if line.starts_with("ready ") => {
            Ok((Proxy(child), line.trim_start_matches("ready ").to_string()))
        }
        (Some(child), First::Line(line)) => {
            let _ = child.stop(STOP_WITHIN).await;
            Err(format!("the HTTP proxy said `{line}` instead of ready"))
        }
        (_, First::Ended { stderr, .. }) => {
            let err = stderr.trim().trim_start_matches("gameday http-proxy: ");
            Err(if err.is_empty() {
                "the HTTP proxy ended before it was in place".into()
            } else {
                err.to_string()
            })
        }
        (_, First::TimedOut) | (None, First::Line(_)) => Err(format!(
            "the HTTP proxy was not in place after {}s",
            READY_WITHIN.as_secs()
        )),
    }
}

impl Proxy {
    /// Stop it: it removes its redirect, passes what is in flight, and
    /// says what it counted (`...; N requests seen, ...`). None when it
    /// had to be killed.
    pub(crate) async fn stop(self) -> Option<String> {
        self.0.stop(STOP_WITHIN).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_is_one_tagged_nat_rule_added_and_deleted_alike() {
        let rule = redirect_rule(8080, 40123, "gameday:1:s1-f1-ab");
        assert_eq!(
            rule.add().join(" "),
            "-w 5 -t nat -A PREROUTING -p tcp --dport 8080 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40123"
        );
        assert_eq!(
            rule.delete().join(" "),
            "-w 5 -t nat -D PREROUTING -p tcp --dport 8080 -m comment --comment gameday:1:s1-f1-ab -j REDIRECT --to-ports 40123"
        );
    }
}
