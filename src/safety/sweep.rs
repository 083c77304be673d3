//! `recover --scope`: what gameday may have left on a compose project's
//! containers, found without a journal, each kind by its tag or name:
//!
//! - helper containers (label `gameday.helper`) sharing a container's
//!   network namespace (packet engines, proxies, rule commands) or placed
//!   in its PID namespace (stress workers): stopped and removed;
//! - gameday's worker processes on this host (`stress`, `http-proxy`,
//!   `dns-proxy`), by the `--container` and gameday `--tag` on their
//!   command line: killed;
//! - iptables rules commented `gameday:` and qdiscs with a handle from `6700:` to `67ff:`:
//!   removed;
//! - `disk_fill` and `io_stress` files (`.gameday-fill-gameday-*`,
//!   `.gameday-io-gameday-*`) at the top of the container's root, its
//!   `/tmp` and each of its mounts, from this host only: removed inside
//!   the container's mount namespace. A file in another directory is
//!   found only from its journal;
//! - OOM scores `memory_stress` raised to 1000: the value before is in the
//!   journal only, so a process at 1000 is put back to what the container's
//!   configuration gives it (`--oom-score-adj`, 0 by default), and one
//!   whose configuration says 1000 is left alone;
//! - deploys (`sweep_deploys`): a replacement labelled `gameday.deploy`
//!   and the replica kept beside it: rolled back.
//!
//! Nothing is touched while a run that is alive, or cannot be proved dead,
//! holds the project's claim.

use std::path::{Component, Path, PathBuf};

use super::claim;
use super::recover::{Recovered, RecoveryOutcome};
use crate::docker::{ContainerInfo, Engine};
use crate::fault::stress::{self, OomScore};
use crate::gameday::units::ContainerState;
use crate::worker::leftovers;

/// The OOM score `memory_stress` gives a target's processes.
const RAISED_OOM_SCORE: i32 = 1000;

/// The tag a sweep's own short-lived workers carry.
const SWEEP_TAG: &str = "gameday:sweep";

/// Recover without a journal: everything gameday can leave on the
/// containers of compose project `project`, helpers reached from
/// `helper_image` when given (a remote engine), else from this host.
pub(crate) async fn sweep(
    engine: &Engine,
    project: &str,
    helper_image: Option<&str>,
) -> Vec<Recovered> {
    let line = |container: &str, outcome| Recovered {
        journal: PathBuf::new(),
        fault_id: "sweep".into(),
        container: container.to_string(),
        outcome,
    };
    if let Ok(Some(holder)) = claim::holder(engine, project).await {
        let liveness = holder.liveness();
        if !liveness.is_dead() {
            return vec![line(
                project,
                RecoveryOutcome::Refused(format!(
                    "compose project `{project}` is held by {holder}{}: a sweep now would undo its faults",
                    claim::state_words(&liveness)
                )),
            )];
        }
    }
    let containers = match engine.list_project(project).await {
        Ok(c) => c,
        Err(e) => return vec![line(project, RecoveryOutcome::Failed(e.to_string()))],
    };
    let mut report: Vec<Recovered> = leftovers::remove_helpers_serving(engine, &containers)
        .await
        .into_iter()
        .map(|(name, words)| line(&name, RecoveryOutcome::Done(words)))
        .collect();
    let deploys = super::sweep_deploys::roll_back_deploys(engine, &containers).await;
    let rolled_back = !deploys.is_empty();
    report.extend(deploys.into_iter().map(|(name, o)| line(&name, o)));
    // What was rolled back is other containers now: look again.
    let containers = if rolled_back {
        match engine.list_project(project).await {
            Ok(c) => c,
            Err(e) => {
                report.push(line(project, RecoveryOutcome::Failed(e.to_string())));
                return report;
            }
        }
    } else {
        containers
    };
    let ids: Vec<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    let workers = leftovers::on_containers(&ids);
    leftovers::kill(&workers.iter().map(|w| w.pid).collect::<Vec<_>>()).await;
    for c in &containers {
        let mut done: Vec<String> = workers
            .iter()
            .filter(|w| w.container == c.id)
            .map(|w| format!("killed a `{}` worker left on this host ({})", w.kind, w.tag))
            .collect();
        if !matches!(c.state, ContainerState::Running | ContainerState::Paused) {
            if !done.is_empty() {
                report.push(line(&c.name, RecoveryOutcome::Done(done.join("; "))));
            }
            continue;
        }
        let outcome = match sweep_container(engine, c, helper_image).await {
            Ok(more) => {
                done.extend(more);
                if done.is_empty() {
                    done.push("nothing to remove".into());
                }
                RecoveryOutcome::Done(done.join("; "))
            }
            Err(e) if done.is_empty() => RecoveryOutcome::Failed(e),
            Err(e) => RecoveryOutcome::Failed(format!("{}; then: {e}", done.join("; "))),
        };
        report.push(line(&c.name, outcome));
    }
    report
}

/// Rules and qdiscs, fill files and raised OOM scores of one running
/// container: what was done, in words.
async fn sweep_container(
    engine: &Engine,
    c: &ContainerInfo,
    helper_image: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let mut exec = crate::fault::net_exec(engine, &c.id, helper_image, SWEEP_TAG).await?;
    let removed = tokio::task::spawn_blocking(move || {
        crate::fault::net::remove_tagged(exec.as_mut(), crate::fault::net::Tagged::AnyOfGameday)
    })
    .await
    .map_err(|e| e.to_string())??;
    if removed {
        done.push("removed gameday's rules and qdiscs".to_string());
    }
    let view = engine.sweep_view(&c.id).await.map_err(|e| e.to_string())?;
    let configured = i32::try_from(view.oom_score_adj).unwrap_or(0);
    match helper_image {
        None => {
            let pid = engine.pid(&c.id).await.map_err(|e| e.to_string())?;
            // `net_exec` checked it is this container's, on this host.
            let files = fill_files(pid, &view.mounts);
            if !files.is_empty() {
                let n = stress::remove(pid, &c.id, SWEEP_TAG, &files).await?;
                done.push(format!("removed {n} fill file(s): {}", files.join(", ")));
            }
            let raised = raised_scores(stress::oom_scores(&c.id, pid), configured);
            let n = stress::set_oom_scores(&raised, None);
            if n > 0 {
                done.push(oom_words(n, configured));
            }
        }
        Some(image) => {
            let raised = stress::oom_scores_via_helper(engine, image, &c.id, SWEEP_TAG)
                .await
                .map(|scores| raised_scores(scores, configured));
            match raised {
                Ok(raised) if raised.is_empty() => {}
                Ok(raised) => {
                    let (_, n) =
                        stress::clean_up_via_helper(engine, image, &c.id, SWEEP_TAG, &[], &raised)
                            .await?;
                    if n > 0 {
                        done.push(oom_words(n, configured));
                    }
                }
                Err(e) => done.push(format!("OOM scores not looked at: {e}")),
            }
            done.push(
                "fill files are looked for from this host only; through helpers, only journals name them"
                    .into(),
            );
        }
    }
    Ok(done)
}

/// The processes at the raised score, each to be put back to `configured`
/// (none when the configuration itself says 1000).
fn raised_scores(scores: Vec<OomScore>, configured: i32) -> Vec<OomScore> {
    if configured == RAISED_OOM_SCORE {
        return Vec::new();
    }
    scores
        .into_iter()
        .filter(|s| s.value == RAISED_OOM_SCORE)
        .map(|s| OomScore {
            value: configured,
            ..s
        })
        .collect()
}

fn oom_words(n: usize, configured: i32) -> String {
    format!(
        "put the OOM score of {n} process(es) from {RAISED_OOM_SCORE} back to {configured}, the container's configured value (the value before the fault is known only to its journal)"
    )
}

/// The fill and io files of gameday at the top of the container's root,
/// its `/tmp` and each of its `mounts`, seen from this host through
/// `/proc/PID/root` (`pid`: its main process). A directory reached through
/// a symbolic link is not looked in: it may lead out of the container.
/// Returns their paths inside the container.
fn fill_files(pid: i64, mounts: &[String]) -> Vec<String> {
    fill_files_under(Path::new(&format!("/proc/{pid}/root")), mounts)
}

/// [`fill_files`] of the container whose root is `root`.
fn fill_files_under(root: &Path, mounts: &[String]) -> Vec<String> {
    let mut dirs: Vec<&str> = vec!["/", "/tmp"];
    dirs.extend(mounts.iter().map(String::as_str));
    dirs.sort_unstable();
    dirs.dedup();
    let mut found = Vec::new();
    for dir in dirs {
        let Some(path) = real_dir(root, dir) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = [".gameday-fill-gameday-", ".gameday-io-gameday-"]
                .iter()
                .any(|p| name.starts_with(p));
            if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
                found.push(format!("{}/{name}", dir.trim_end_matches('/')));
            }
        }
    }
    found
}

/// `dir` (absolute, inside the container) under `root`, when every part of
/// it is a directory and none a symbolic link.
fn real_dir(root: &Path, dir: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for part in Path::new(dir).components() {
        match part {
            Component::RootDir => {}
            Component::Normal(p) => {
                path.push(p);
                if !std::fs::symlink_metadata(&path).ok()?.file_type().is_dir() {
                    return None;
                }
            }
            Component::CurDir | Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raised_scores_are_put_back_to_the_configured_value() {
        let score = |pid, value| OomScore {
            pid,
            start: 7,
            value,
        };
        let scores = vec![score(1, 1000), score(2, 0), score(3, -500)];
        assert_eq!(raised_scores(scores.clone(), 0), vec![score(1, 0)]);
        assert_eq!(raised_scores(scores.clone(), 300), vec![score(1, 300)]);
        assert_eq!(raised_scores(scores, 1000), Vec::new());
    }

    #[test]
    fn fill_files_are_found_at_the_top_of_real_directories_only() {
        let root = tempfile_root();
        let make = |p: &str| std::fs::write(root.join(p.trim_start_matches('/')), b"x").unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::create_dir_all(root.join("data/deeper")).unwrap();
        make("/.gameday-fill-gameday-abc-s1-f1");
        make("/tmp/.gameday-io-gameday-abc-s2-f1-1");
        make("/data/.gameday-fill-gameday-abc-s3-f1");
        make("/data/deeper/.gameday-fill-gameday-abc-s4-f1");
        make("/data/.gameday-fill-someone-else");
        std::os::unix::fs::symlink(root.join("data"), root.join("link")).unwrap();
        let dirs = ["/data".to_string(), "/link".to_string()];
        let mut found = fill_files_under(&root, &dirs);
        found.sort();
        assert_eq!(
            found,
            vec![
                "/.gameday-fill-gameday-abc-s1-f1",
                "/data/.gameday-fill-gameday-abc-s3-f1",
                "/tmp/.gameday-io-gameday-abc-s2-f1-1",
            ]
        );
        assert_eq!(real_dir(&root, "/link"), None);
        assert_eq!(real_dir(&root, "/data/../etc"), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    fn tempfile_root() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "gameday-sweep-test-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
