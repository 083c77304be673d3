//! `gameday recover`: find run journals with faults that were applied and
//! never reverted (the runner was SIGKILLed, the machine rebooted), revert
//! them idempotently, and record that in the same journal.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::claim;
use crate::docker::Engine;
use crate::fault::RevertRecipe;
use crate::gameday::model::EngineSpec;
use crate::gameday::units::ContainerState;
use crate::record::journal::{self, Journal, JournalEntry};

/// Journals under `out` (one level of run directories) that have
/// unreverted faults, with how many damaged lines each had.
pub(crate) fn find_unfinished(out: &Path) -> Vec<(PathBuf, journal::Unfinished)> {
    read_journals(out, |u| !u.faults.is_empty())
}

/// Journals under `out` of runs that never said they finished (killed),
/// with or without faults left: their claim may be left too.
pub(crate) fn find_unended(out: &Path) -> Vec<(PathBuf, journal::Unfinished)> {
    read_journals(out, |u| !u.finished)
}

fn read_journals(
    out: &Path,
    keep: impl Fn(&journal::Unfinished) -> bool,
) -> Vec<(PathBuf, journal::Unfinished)> {
    let Ok(dirs) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, journal::Unfinished)> = dirs
        .filter_map(Result::ok)
        .map(|d| d.path().join(crate::record::JOURNAL_FILE))
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let (entries, damaged) = journal::read_counting_damage(&p).ok()?;
            let mut u = journal::unfinished(&entries);
            u.damaged_lines = damaged;
            keep(&u).then_some((p, u))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// What recovery did for one fault.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub journal: PathBuf,
    pub fault_id: String,
    pub container: String,
    pub outcome: Outcome,
}

/// How recovering one fault went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Reverted, already fine, or nothing left to revert: the words say which.
    Done(String),
    /// Not reverted: the fault may still be in place (exit 4).
    Failed(String),
    /// Not touched, on purpose: the run that applied it is alive, or cannot
    /// be proved dead (exit 2).
    Refused(String),
}

/// An engine a journal names, connected once per address, with its ID.
struct Reached {
    spec: EngineSpec,
    engine: Result<(Engine, String), String>,
}

async fn reach<'a>(
    cache: &'a mut Vec<Reached>,
    spec: &EngineSpec,
) -> &'a Result<(Engine, String), String> {
    if let Some(i) = cache.iter().position(|r| &r.spec == spec) {
        return &cache[i].engine;
    }
    let engine = match Engine::connect_spec(spec).await {
        Ok(engine) => match engine.engine_id().await {
            Ok(id) => Ok((engine, id)),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    cache.push(Reached {
        spec: spec.clone(),
        engine,
    });
    &cache.last().expect("just pushed").engine
}

/// Revert every unfinished fault of every journal under `out` (only those of
/// `scope` when given), each on the engine its journal names (reached the
/// same way, TLS included, and checked to be the same engine by its ID),
/// else on `fallback` for journals written before engines were recorded.
/// A journal whose run holds its scope's claim and is alive, or cannot be
/// proved dead, is refused.
pub(crate) async fn recover(fallback: &Engine, out: &Path, scope: Option<&str>) -> Vec<Recovered> {
    let mut report = Vec::new();
    let mut cache: Vec<Reached> = Vec::new();
    // What watchdogs did on their own first: a remote one's record is
    // fetched from its container into the journal, then said.
    let mut watched = find_unended(out);
    for (path, u) in find_unfinished(out) {
        if !watched.iter().any(|(p, _)| p == &path) {
            watched.push((path, u));
        }
    }
    for (path, run) in watched {
        if scope.is_some_and(|s| s != run.scope) {
            continue;
        }
        fetch_watchdog_records(fallback, &mut cache, &path, &run).await;
        report.extend(watchdog_reverts(&path));
    }
    // Runs killed before any fault: nothing to revert, only their claim.
    for (path, unended) in find_unended(out) {
        if !unended.faults.is_empty() || scope.is_some_and(|s| s != unended.scope) {
            continue;
        }
        if let Some(holder) = release_claim(fallback, &mut cache, &unended).await
            && let Ok(mut j) = Journal::create(&path)
        {
            let _ = j.append(&JournalEntry::Observation {
                scenario: None,
                by: "recover".into(),
                text: format!("released the claim left by {holder}"),
                at: Utc::now(),
            });
        }
    }
    for (path, unfinished) in find_unfinished(out) {
        if scope.is_some_and(|s| s != unfinished.scope) {
            continue;
        }
        if let Some(refusal) = busy(fallback, &mut cache, &unfinished).await {
            for (fault_id, recipe) in &unfinished.faults {
                report.push(Recovered {
                    journal: path.clone(),
                    fault_id: fault_id.clone(),
                    container: recipe.container_name().to_string(),
                    outcome: Outcome::Refused(refusal.clone()),
                });
            }
            continue;
        }
        let mut journal = Journal::create(&path).ok();
        for (fault_id, recipe) in &unfinished.faults {
            let host = unfinished
                .fault_hosts
                .get(fault_id)
                .map_or(crate::gameday::decode::DEFAULT_HOST, String::as_str);
            let spec = unfinished
                .fault_engines
                .get(fault_id)
                .or(unfinished.engine.as_ref());
            let expected_id = unfinished.engine_ids.get(host);
            let requested_at = Utc::now();
            let settle = unfinished.unconfirmed.get(fault_id).copied();
            let executed = match spec {
                None => revert(fallback, recipe, settle).await,
                Some(spec) => match reach(&mut cache, spec).await {
                    Err(e) => Err(format!(
                        "cannot reach the engine the journal names ({}): {e}",
                        spec.host
                            .as_deref()
                            .unwrap_or("DOCKER_HOST or the local socket")
                    )),
                    Ok((_, id)) if expected_id.is_some_and(|want| want != id) => Err(format!(
                        "the engine at {} is not the one the run used (its ID is {id}, the journal's {})",
                        spec.host.as_deref().unwrap_or("the default address"),
                        expected_id.map_or("", String::as_str)
                    )),
                    Ok((engine, _)) => revert(engine, recipe, settle).await,
                },
            };
            let outcome = match executed {
                Ok((confirmed, words)) => {
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultReverted {
                            fault_id: fault_id.clone(),
                            // Who reverted it; how, when it is not a plain revert.
                            by: if confirmed.is_some() || words == "was already reverted" {
                                "recover".to_string()
                            } else {
                                format!("recover ({words})")
                            },
                            requested_at,
                            confirmed_at: confirmed,
                        });
                    }
                    Outcome::Done(words)
                }
                Err(e) => {
                    // The intent stays open: a later `recover` tries again.
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultRevertFailed {
                            fault_id: fault_id.clone(),
                            error: e.clone(),
                            by_hand: recipe.by_hand(),
                        });
                    }
                    Outcome::Failed(format!("{e}; by hand: {}", recipe.by_hand()))
                }
            };
            report.push(Recovered {
                journal: path.clone(),
                fault_id: fault_id.clone(),
                container: recipe.container_name().to_string(),
                outcome,
            });
        }
        // The run is dead and its faults are dealt with: its claim goes too.
        let all_done = report
            .iter()
            .filter(|r| r.journal == path)
            .all(|r| matches!(r.outcome, Outcome::Done(_)));
        if all_done
            && let Some(holder) = release_claim(fallback, &mut cache, &unfinished).await
            && let Some(j) = journal.as_mut()
        {
            let _ = j.append(&JournalEntry::Observation {
                scenario: None,
                by: "recover".into(),
                text: format!("released the claim left by {holder}"),
                at: Utc::now(),
            });
        }
    }
    report
}

/// The engines a journal names: its default one and those its faults went to.
fn engines_of(unfinished: &journal::Unfinished) -> Vec<Option<EngineSpec>> {
    let mut specs = vec![unfinished.engine.clone()];
    for spec in unfinished.fault_engines.values() {
        if !specs.iter().any(|s| s.as_ref() == Some(spec)) {
            specs.push(Some(spec.clone()));
        }
    }
    specs
}

/// A watchdog container of the run that fired kept its record in its
/// logs: append it to the journal and remove the container.
async fn fetch_watchdog_records(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    path: &Path,
    unended: &journal::Unfinished,
) {
    for spec in engines_of(unended) {
        let engine = match &spec {
            Some(spec) => match reach(cache, spec).await {
                Ok((engine, _)) => engine.clone(),
                Err(_) => continue,
            },
            None => fallback.clone(),
        };
        let Ok(ids) = engine
            .containers_labelled(crate::watchdog::RUN_LABEL, &unended.run_id)
            .await
        else {
            continue;
        };
        for id in ids {
            // A watchdog whose runner is gone fires and ends; one that does
            // not end in time is left (it may still be guarding faults).
            let Ok(Ok(output)) = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                engine.finish(&id, false),
            )
            .await
            else {
                continue;
            };
            let Ok(mut j) = Journal::create(path) else {
                continue;
            };
            for line in output.stdout.lines() {
                if let Ok(crate::watchdog::FromWatchdog::Journal(entry)) =
                    serde_json::from_str(line.trim())
                {
                    let _ = j.append(&entry);
                }
            }
        }
    }
}

/// What the watchdog of the journal's run reverted, once: said until
/// `recover` has said it (an observation by `recover` marks it).
fn watchdog_reverts(path: &Path) -> Vec<Recovered> {
    let Ok(entries) = journal::read(path) else {
        return Vec::new();
    };
    let fired = entries
        .iter()
        .rposition(|e| matches!(e, JournalEntry::WatchdogFired { .. }));
    let Some(fired) = fired else {
        return Vec::new();
    };
    let said = entries[fired..].iter().any(|e| {
        matches!(e, JournalEntry::Observation { by, text, .. } if by == "recover" && text.starts_with("the watchdog"))
    });
    if said {
        return Vec::new();
    }
    let reason = match &entries[fired] {
        JournalEntry::WatchdogFired { reason, .. } => reason.clone(),
        _ => String::new(),
    };
    let container_of = |fault: &str| {
        entries.iter().find_map(|e| match e {
            JournalEntry::FaultIntent {
                fault_id, recipe, ..
            } if fault_id == fault => Some(recipe.container_name().to_string()),
            _ => None,
        })
    };
    let reverted: Vec<Recovered> = entries[fired..]
        .iter()
        .filter_map(|e| match e {
            JournalEntry::FaultReverted {
                fault_id,
                by,
                requested_at,
                ..
            } if by.starts_with("watchdog") => Some(Recovered {
                journal: path.to_path_buf(),
                fault_id: fault_id.clone(),
                container: container_of(fault_id).unwrap_or_default(),
                outcome: Outcome::Done(format!(
                    "already reverted by the run's watchdog at {} ({reason})",
                    requested_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )),
            }),
            _ => None,
        })
        .collect();
    if let Ok(mut j) = Journal::create(path) {
        let _ = j.append(&JournalEntry::Observation {
            scenario: None,
            by: "recover".into(),
            text: format!(
                "the watchdog had reverted {} fault(s): {reason}",
                reverted.len()
            ),
            at: Utc::now(),
        });
    }
    reverted
}

/// Remove the claim on the journal's scope if its holder is that run and
/// provably dead; returns the holder removed.
async fn release_claim(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    unfinished: &journal::Unfinished,
) -> Option<claim::Holder> {
    let engine = match unfinished.engine.as_ref() {
        Some(spec) => reach(cache, spec).await.as_ref().ok()?.0.clone(),
        None => fallback.clone(),
    };
    let holder = claim::holder(&engine, &unfinished.scope).await.ok()??;
    if holder.run_id != unfinished.run_id {
        return None;
    }
    claim::release_dead(&engine, &unfinished.scope).await.ok()?
}

/// Why the faults of `unfinished` must not be touched now, if they must
/// not: its scope's claim is held by a run that is alive or that cannot be
/// proved dead (reverting would undo a live run's fault mid-hold).
async fn busy(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    unfinished: &journal::Unfinished,
) -> Option<String> {
    let engine = match unfinished.engine.as_ref() {
        Some(spec) => match reach(cache, spec).await {
            Ok((engine, _)) => engine.clone(),
            // Unreachable: each fault says so below.
            Err(_) => return None,
        },
        None => fallback.clone(),
    };
    let holder = claim::holder(&engine, &unfinished.scope).await.ok()??;
    let whose = if holder.run_id == unfinished.run_id {
        "its run"
    } else {
        "another run"
    };
    match holder.liveness() {
        claim::Liveness::Dead => None,
        claim::Liveness::Alive => Some(format!(
            "{whose} is alive and holds compose project `{}`: {holder}; it reverts its own faults (Ctrl-C or `gameday halt` stops it; if only its watchdog is left, it is reverting them now)",
            unfinished.scope
        )),
        claim::Liveness::Unknown => Some(format!(
            "{whose} holds compose project `{}` from another machine: {holder}; run `gameday recover` there, or, if that machine is gone for good, remove the claim with `docker rm {}` and run recover again",
            unfinished.scope,
            claim::name(&unfinished.scope)
        )),
    }
}

/// Execute one recipe, saying honestly what happened: reverted, already
/// fine, or nothing left because the container is gone or was replaced.
/// An apply that was requested and never confirmed (`settle`) may still be
/// landing: the engine is given that long to finish it first, so that a
/// stop in its grace period is not "already reverted" a moment before it
/// takes the container down.
pub(crate) async fn revert(
    engine: &Engine,
    recipe: &RevertRecipe,
    settle: Option<std::time::Duration>,
) -> Result<(Option<chrono::DateTime<Utc>>, String), String> {
    let id = recipe.container_id();
    match engine.state(id).await {
        Ok(ContainerState::Absent) => {
            let replaced = engine
                .labels_of(recipe.container_name())
                .await
                .ok()
                .flatten()
                .is_some_and(|(new_id, _)| new_id != id);
            if replaced {
                return Ok((
                    None,
                    "target replaced by a new container of the same name; nothing to revert"
                        .to_string(),
                ));
            }
            match recipe {
                // Its revert is to bring it back, which cannot be: the
                // recipe says so below. Stress workers are on this host
                // (killed by their tag), as is what a host script changed.
                RevertRecipe::Start { .. } | RevertRecipe::Stress { .. } => {}
                RevertRecipe::Script { on_host: true, .. } => {}
                RevertRecipe::Script { on_host: false, .. }
                | RevertRecipe::Unpause { .. }
                | RevertRecipe::Nothing { .. }
                | RevertRecipe::NetRules { .. }
                | RevertRecipe::Continue { .. }
                | RevertRecipe::Reconnect { .. } => {
                    return Ok((None, "container gone; nothing left to revert".to_string()));
                }
            }
        }
        Ok(_) => {
            if let Some(within) = settle {
                settle_apply(engine, recipe, within).await;
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    match recipe.execute(engine).await {
        Ok(Some(at)) => Ok((Some(at), "reverted".to_string())),
        Ok(None) => Ok((None, "was already reverted".to_string())),
        Err(e) => Err(e.to_string()),
    }
}

/// Wait (at most `within`) for an apply in flight to land: a container
/// still running may be in a stop's grace period, so watch it until it
/// leaves `running` and settles, or the time is up.
pub(crate) async fn settle_apply(
    engine: &Engine,
    recipe: &RevertRecipe,
    within: std::time::Duration,
) {
    match recipe {
        RevertRecipe::Start { .. } | RevertRecipe::Unpause { .. } => {}
        // Rules are set by the runner itself (gone) or by a helper that
        // ends with it, signals by the runner itself; a moment is enough.
        RevertRecipe::NetRules { .. }
        | RevertRecipe::Reconnect { .. }
        | RevertRecipe::Continue { .. }
        | RevertRecipe::Stress { .. } => {
            tokio::time::sleep(within.min(std::time::Duration::from_secs(1))).await;
            return;
        }
        // An apply command the runner started may still be running: give
        // it its timeout before the revert runs.
        RevertRecipe::Script { .. } => {
            tokio::time::sleep(within).await;
            // Its time is up: what of it still runs is killed first.
            let _ = recipe.end_unconfirmed_apply(engine).await;
            return;
        }
        RevertRecipe::Nothing { .. } => return,
    }
    let deadline = tokio::time::Instant::now() + within;
    let mut left_running = false;
    while tokio::time::Instant::now() < deadline {
        match engine.state(recipe.container_id()).await {
            Ok(ContainerState::Running) if left_running => return,
            Ok(ContainerState::Running) => {}
            Ok(ContainerState::Restarting | ContainerState::Removing | ContainerState::Created) => {
                left_running = true;
            }
            Ok(
                ContainerState::Paused
                | ContainerState::Exited
                | ContainerState::Dead
                | ContainerState::Absent,
            )
            | Err(_) => return,
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Recover without a journal: remove every rule and qdisc gameday adds
/// (comment `gameday:`, handles `6700:` to `67ff:`) from the running containers of a
/// compose project, and stop the helper containers serving them.
pub(crate) async fn sweep(
    engine: &Engine,
    project: &str,
    helper_image: Option<&str>,
) -> Vec<Recovered> {
    let mut report = Vec::new();
    if let Ok(Some(holder)) = claim::holder(engine, project).await
        && holder.liveness() != claim::Liveness::Dead
    {
        report.push(Recovered {
            journal: PathBuf::new(),
            fault_id: "sweep".into(),
            container: project.to_string(),
            outcome: Outcome::Refused(format!(
                "compose project `{project}` is held by {holder}: a sweep now would undo its faults"
            )),
        });
        return report;
    }
    let containers = match engine.list_project(project).await {
        Ok(c) => c,
        Err(e) => {
            report.push(Recovered {
                journal: PathBuf::new(),
                fault_id: "sweep".into(),
                container: project.to_string(),
                outcome: Outcome::Failed(e.to_string()),
            });
            return report;
        }
    };
    for helper in engine
        .containers_labelled("gameday.helper", "1")
        .await
        .unwrap_or_default()
    {
        let mode = engine
            .network_mode(&helper)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let target = mode.strip_prefix("container:").unwrap_or_default();
        if let Some(c) = containers
            .iter()
            .find(|c| !target.is_empty() && c.id.starts_with(target))
        {
            let _ = engine.finish(&helper, true).await;
            report.push(Recovered {
                journal: PathBuf::new(),
                fault_id: "sweep".into(),
                container: c.name.clone(),
                outcome: Outcome::Done("stopped a helper packet engine".into()),
            });
        }
    }
    for c in containers
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Paused))
    {
        let exec = crate::fault::net_exec(engine, &c.id, helper_image, "gameday:sweep").await;
        let outcome = match exec {
            Ok(mut exec) => tokio::task::spawn_blocking(move || {
                crate::fault::net::remove_tagged(
                    exec.as_mut(),
                    crate::fault::net::Tagged::AnyOfGameday,
                )
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map(|removed| {
                if removed {
                    "removed gameday's rules and qdiscs"
                } else {
                    "nothing to remove"
                }
            }),
            Err(e) => Err(e),
        };
        let outcome = match outcome {
            Ok(words) => Outcome::Done(words.to_string()),
            Err(e) => Outcome::Failed(e),
        };
        report.push(Recovered {
            journal: PathBuf::new(),
            fault_id: "sweep".into(),
            container: c.name.clone(),
            outcome,
        });
    }
    report
}
