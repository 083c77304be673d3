//! The run's exclusive claim on its scope, arbitrated by the engine itself:
//! a container that is created and never started, named after the compose
//! project (`gameday-claim-<project>`) and labelled with who holds it. The
//! engine refuses a second container of that name, so two `gameday run`s on
//! one scope cannot both hold it, from one laptop or from two. A claim left
//! by a runner that died is taken over only when that is provable (same
//! host, same boot, its process gone), and the run records that.

use std::collections::HashMap;

use chrono::Utc;

use crate::docker::{DockerError, Engine};

const LABEL: &str = "gameday.claim";
const RUN_ID: &str = "gameday.claim.run_id";
const USER: &str = "gameday.claim.user";
const HOST: &str = "gameday.claim.host";
const BOOT: &str = "gameday.claim.boot_id";
const PID: &str = "gameday.claim.pid";
const SINCE: &str = "gameday.claim.since";
const SCOPE: &str = "gameday.claim.scope";

/// The name of the claim container of a scope.
pub(crate) fn name(scope: &str) -> String {
    marker_name("gameday-claim", scope)
}

/// `PREFIX-<scope>`, with what a container name cannot hold made `-`.
pub(crate) fn marker_name(prefix: &str, scope: &str) -> String {
    let safe: String = scope
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{safe}")
}

/// Who holds a claim, as its labels say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) run_id: String,
    pub(crate) user: String,
    pub(crate) host: String,
    pub(crate) boot_id: String,
    pub(crate) pid: u32,
    pub(crate) since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} by {} on {} (pid {}), since {}",
            self.run_id, self.user, self.host, self.pid, self.since
        )
    }
}

/// Whether the holder of a claim is alive, as far as this host can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Its process runs on this host, and it is gameday.
    Alive,
    /// It ran on this host, and its process is gone (or the host rebooted).
    Dead,
    /// It runs elsewhere: nothing here can prove it alive or dead.
    Unknown,
}

impl Holder {
    fn from_labels(labels: &HashMap<String, String>) -> Holder {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        Holder {
            run_id: get(RUN_ID),
            user: get(USER),
            host: get(HOST),
            boot_id: get(BOOT),
            pid: get(PID).parse().unwrap_or(0),
            since: get(SINCE),
        }
    }

    fn labels(&self, scope: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL.to_string(), "1".to_string()),
            (SCOPE.to_string(), scope.to_string()),
            (RUN_ID.to_string(), self.run_id.clone()),
            (USER.to_string(), self.user.clone()),
            (HOST.to_string(), self.host.clone()),
            (BOOT.to_string(), self.boot_id.clone()),
            (PID.to_string(), self.pid.to_string()),
            (SINCE.to_string(), self.since.clone()),
        ])
    }

    /// This process, holding for `run_id`.
    pub(crate) fn me(run_id: &str) -> Holder {
        Holder {
            run_id: run_id.to_string(),
            user: ["GAMEDAY_OPERATOR", "SUDO_USER", "USER"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
                .unwrap_or_else(|| "unknown".to_string()),
            host: this_host(),
            boot_id: boot_id(),
            pid: std::process::id(),
            since: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    pub(crate) fn liveness(&self) -> Liveness {
        if self.host != this_host() {
            return Liveness::Unknown;
        }
        if self.boot_id != boot_id() {
            // The host rebooted since: no process of that boot is left.
            return Liveness::Dead;
        }
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.pid)).unwrap_or_default();
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        if self.pid != 0 && String::from_utf8_lossy(program).contains("gameday") {
            Liveness::Alive
        } else if local_watchdog_alive(&self.run_id) {
            // The runner died and its watchdog is reverting its faults: the
            // run is not over until the watchdog is done.
            Liveness::Alive
        } else {
            Liveness::Dead
        }
    }
}

/// Is a watchdog process of run `run_id` alive on this host (other than
/// this process)? Watchdogs carry `watchdog --run-id ID` on their command line.
pub(crate) fn local_watchdog_alive(run_id: &str) -> bool {
    if run_id.is_empty() {
        return false;
    }
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.filter_map(Result::ok).any(|p| {
        let pid = p.file_name();
        let pid = pid.to_string_lossy();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.windows(3)
            .any(|w| w[0] == b"watchdog" && w[1] == b"--run-id" && w[2] == run_id.as_bytes())
    })
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_string())
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClaimError {
    #[error("compose project `{scope}` on {engine} is held by {holder}")]
    Held {
        scope: String,
        engine: String,
        holder: Holder,
    },
    #[error("cannot claim compose project `{scope}` on {engine}: {source}")]
    Docker {
        scope: String,
        engine: String,
        #[source]
        source: DockerError,
    },
}

/// A claim held on one engine; [`Claim::release`] gives it back.
#[derive(Debug)]
#[must_use = "a claim must be released"]
pub(crate) struct Claim {
    engine: Engine,
    id: String,
}

/// Who holds the claim on `scope` on `engine`, if anyone.
pub(crate) async fn holder(engine: &Engine, scope: &str) -> Result<Option<Holder>, DockerError> {
    Ok(engine
        .labels_of(&name(scope))
        .await?
        .filter(|(_, labels)| labels.contains_key(LABEL))
        .map(|(_, labels)| Holder::from_labels(&labels)))
}

/// Take the claim on `scope` on `engine` for `me`, making the marker from
/// `image` (one the engine has: a target's). A claim whose holder is
/// provably dead is taken over, and its holder returned.
pub(crate) async fn acquire(
    engine: &Engine,
    scope: &str,
    image: &str,
    me: &Holder,
) -> Result<(Claim, Option<Holder>), ClaimError> {
    let docker = |source| ClaimError::Docker {
        scope: scope.to_string(),
        engine: engine.host().to_string(),
        source,
    };
    let mut taken_over = None;
    // Twice at most: once, and once more after taking over a dead claim.
    for _ in 0..2 {
        match engine
            .create_marker(&name(scope), image, me.labels(scope))
            .await
        {
            Ok(id) => {
                let claim = Claim {
                    engine: engine.clone(),
                    id,
                };
                return Ok((claim, taken_over));
            }
            Err(DockerError::Conflict(_)) => {}
            Err(e) => return Err(docker(e)),
        }
        let Some((id, labels)) = engine.labels_of(&name(scope)).await.map_err(docker)? else {
            // Released in between: try again.
            continue;
        };
        let holder = Holder::from_labels(&labels);
        if !labels.contains_key(LABEL)
            || holder.liveness() != Liveness::Dead
            || taken_over.is_some()
        {
            return Err(ClaimError::Held {
                scope: scope.to_string(),
                engine: engine.host().to_string(),
                holder,
            });
        }
        engine.remove_container(&id).await.map_err(docker)?;
        taken_over = Some(holder);
    }
    Err(docker(DockerError::Conflict(format!(
        "the claim `{}` keeps coming back",
        name(scope)
    ))))
}

impl Claim {
    /// Give the claim back (remove the marker).
    pub(crate) async fn release(self) -> Result<(), DockerError> {
        self.engine.remove_container(&self.id).await
    }
}

/// Remove a claim whose holder is provably dead (after `recover` reverted
/// what it left). Returns the holder removed.
pub(crate) async fn release_dead(
    engine: &Engine,
    scope: &str,
) -> Result<Option<Holder>, DockerError> {
    let Some((id, labels)) = engine.labels_of(&name(scope)).await? else {
        return Ok(None);
    };
    if !labels.contains_key(LABEL) {
        return Ok(None);
    }
    let holder = Holder::from_labels(&labels);
    if holder.liveness() != Liveness::Dead {
        return Ok(None);
    }
    engine.remove_container(&id).await?;
    Ok(Some(holder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_named_after_its_scope_safely() {
        assert_eq!(name("demo"), "gameday-claim-demo");
        assert_eq!(name("my project/x"), "gameday-claim-my-project-x");
    }

    #[test]
    fn liveness_is_proved_on_this_host_only() {
        let me = Holder::me("abc");
        // This test runs in `gameday-<hash>`, a gameday process.
        assert_eq!(me.liveness(), Liveness::Alive);
        let elsewhere = Holder {
            host: format!("{}-elsewhere", me.host),
            ..me.clone()
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
        let rebooted = Holder {
            boot_id: "not-this-boot".into(),
            ..me.clone()
        };
        assert_eq!(rebooted.liveness(), Liveness::Dead);
        // A pid that is not running gameday (pid 1 is init here).
        let not_gameday = Holder {
            pid: 1,
            ..me.clone()
        };
        assert_eq!(not_gameday.liveness(), Liveness::Dead);
        let round_trip = Holder::from_labels(&me.labels("demo"));
        assert_eq!(round_trip, me);
    }
}
